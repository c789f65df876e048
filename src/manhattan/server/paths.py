"""What a ``--path`` that matches no log files probably meant (pure).

A :class:`~manhattan.log.timerotating.TimeRotatingLog` at ``PATH`` writes
hourly files ``PATH.<hour>``, so the ``--path`` to read it is the path the
app gave, without the hour. The usual slips: the app wrote
``TimeRotatingLog(".../events.log")`` and the server reads ``--path
.../events`` (or the other way round), ``--path`` names the directory, or
one hour's file. :func:`suggestions` turns the names found in a directory
into the ``--path`` values that would have matched files there.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable

HOUR_FILE = re.compile(r"(.+)\.(\d+)", re.ASCII)
"""A log file's name: ``<base>.<hour start>``."""

SHOWN = 5
"""The most suggestions a message gives."""


def log_bases(names: Iterable[str]) -> list[str]:
    """The base names of the hourly log files among ``names``, sorted."""
    bases = set()
    for name in names:
        found = HOUR_FILE.fullmatch(name)
        if found:
            bases.add(found.group(1))
    return sorted(bases)


def suggestions(path: str, names: Iterable[str], *, directory: bool = False) -> list[str]:
    """The ``--path`` values, near ``path``, that would match log files.

    ``names`` are the entries of the directory ``path`` is in or, with
    ``directory`` (``path`` is a directory), of ``path`` itself: then every
    log found inside is suggested. Otherwise the logs whose base name
    extends ``path``'s (``events`` -> ``events.log``), is extended by it
    (an hour's file ``events.1764000000`` -> ``events``), or is spelled
    much like it. At most :data:`SHOWN`, the closest first.
    """
    bases = log_bases(names)
    if directory:
        return [os.path.join(path, base) for base in bases[:SHOWN]]
    folder, given = os.path.split(path)
    near = [base for base in bases if base.startswith(given + ".") or given.startswith(base + ".")]
    close = difflib.get_close_matches(given, bases, n=SHOWN, cutoff=0.6)
    chosen = list(dict.fromkeys([*near, *close]))[:SHOWN]
    return [os.path.join(folder, base) for base in chosen]


def no_files_message(path: str, suggested: list[str]) -> str:
    """Why ``--path`` reads nothing: the files it looked for, and the
    ``--path`` values that would have found some."""
    looked = f"no log files match --path {path} (it reads files {path}.<hour>)"
    if not suggested:
        return (
            f"{looked}: nothing was written there yet, or the app writes its "
            "TimeRotatingLog elsewhere (--path is the path given to TimeRotatingLog)"
        )
    return looked + did_you_mean(suggested)


def did_you_mean(suggested: list[str]) -> str:
    """``; did you mean --path A or --path B?``, or ``""`` without suggestions."""
    if not suggested:
        return ""
    return f"; did you mean {' or '.join(f'--path {path}' for path in suggested)}?"
