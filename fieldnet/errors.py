"""The package's own error type.

Every problem caused by user input (bad arguments, unreadable or foreign files, shapes that do
not fit) is raised as a :class:`FieldnetError`.  The command line turns it into one line on
stderr and exit status 2; Python callers can catch it.  Anything else escaping is a bug.
"""

from __future__ import annotations


class FieldnetError(Exception):
    """A user-facing error: the message names the problem and, where possible, the fix."""

    exit_status = 2


class DataFileError(FieldnetError):
    """A data, model or prediction file that is missing, unreadable, corrupt or of the wrong kind."""


class ShapeError(FieldnetError, ValueError):
    """An input shape that a layer or model cannot accept."""


class TrainingDiverged(FieldnetError):
    """The training loss became NaN or infinite."""


class NonFiniteOutput(FieldnetError):
    """A model's outputs overflowed to infinity or NaN (finite but huge weights)."""
