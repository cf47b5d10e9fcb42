"""The ``fieldnet`` command's entry point; the command line itself is :mod:`fieldnet.app.cli`."""

from fieldnet.app.cli import main

__all__ = ["main"]
