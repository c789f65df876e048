"""Opening what ``manhattan-server`` reads, and refusing what would read
nothing: a ``--path`` that matches no log files (with the ``--path`` values
near it that would: see :mod:`manhattan.server.paths`), and a
``--query-only`` database that does not exist.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import os
import threading

from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.config import ConfigError
from manhattan.server.paths import did_you_mean, no_files_message, suggestions

logger = logging.getLogger("manhattan.server")

NO_FILES_WARNING_SECONDS = 60.0
"""How often a server following a log that has no files yet says so."""


def near_paths(path: str) -> list[str]:
    """The ``--path`` values near ``path`` that would match log files."""
    directory = os.path.isdir(path)
    try:
        names = os.listdir(path if directory else os.path.dirname(path) or os.curdir)
    except OSError:  # the checks of open_log name what is wrong
        return []
    return suggestions(path, names, directory=directory)


def open_log(path: str, once: bool) -> TimeRotatingLog:
    """The log at ``--path``; ``ConfigError`` when it cannot be read, or
    with ``once`` when it has no files (following, a warning says so)."""
    try:
        log = TimeRotatingLog(path)
    except ValueError as exc:  # a directory, not a file name
        raise ConfigError(f"--path: {exc}{did_you_mean(near_paths(path))}") from None
    if not os.path.isdir(log.directory):
        raise ConfigError(f"log directory {log.directory} does not exist (from --path {path})")
    if not os.access(log.directory, os.R_OK | os.X_OK):
        raise ConfigError(f"log directory {log.directory} is not readable")
    for _, name in log.files():
        if not os.access(os.path.join(log.directory, name), os.R_OK):
            raise ConfigError(f"log file {name} in {log.directory} is not readable")
    if once and not log.files():
        raise ConfigError(no_files_message(path, near_paths(path)))
    return log


def warn_until_files(log: TimeRotatingLog, path: str, ended: threading.Event) -> threading.Thread:
    """A thread that warns every :data:`NO_FILES_WARNING_SECONDS` while the
    log has no files (the app may not have written yet), until ``ended``."""

    def watch() -> None:
        while not log.files():
            logger.warning("%s", no_files_message(path, near_paths(path)))
            if ended.wait(NO_FILES_WARNING_SECONDS):
                return

    thread = threading.Thread(target=watch, name="manhattan-log-watch", daemon=True)
    thread.start()
    return thread


def check_database_exists(url: str) -> None:
    """``ConfigError`` when ``url`` names an SQLite file that does not exist:
    opening it would create an empty database, and answer zeros."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return  # SQLStore says what is wrong with it
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if not database.startswith("file:") and not os.path.exists(database):
        raise ConfigError(
            f"--query-only: the database {database} does not exist (a manhattan-server "
            "without --query-only creates it when it counts)"
        )
