"""`fieldnet pipeline` (not yet implemented)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from fieldnet.errors import FieldnetError

    raise FieldnetError("'fieldnet pipeline' is not available in this version yet")
