"""Errors a user can act on.

A ``CalrayError`` means the input or the environment is wrong, not the code: its message
states the value given, what is allowed and how to fix it. The CLI prints it as one line
and exits with status 2; library callers catch it like any ``ValueError``.
"""


class CalrayError(ValueError):
    """Bad user input or an unusable environment, with a message that says how to fix it."""
