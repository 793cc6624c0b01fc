"""The one exception type users see: a problem with their input, explained in one paragraph.

The CLI prints a :class:`BioplausError` without a traceback and exits with status 2
(``--debug`` shows the traceback). Anything else escaping is a bug in bioplaus.
"""

from __future__ import annotations

from collections.abc import Iterable


class BioplausError(Exception):
    """A user-facing error: says which file or argument is wrong, what was found and what is allowed."""


def allowed(values: Iterable[object]) -> str:
    """Format allowed values for an error message: ``'a', 'b' or 'c'``."""
    items = [repr(v) for v in values]
    if not items:
        return "(none)"
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
