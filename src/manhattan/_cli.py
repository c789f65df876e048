"""What the console scripts share: argument types, the parser, logging,
signals and exit statuses. Internal: not part of the public API (see
:mod:`manhattan`).

Every script's ``main(argv)`` returns its exit status, ``--help`` and bad
flags included, rather than raising :class:`SystemExit`:

- 0: done, or stopped cleanly by SIGTERM or SIGINT (Ctrl-C);
- 2: a usage error (a bad flag, a bad value) or what stops the command
  starting (an unreachable database, an address in use...): one line
  ``PROGRAM: error: MESSAGE`` on stderr, and no usage text;
- 1 only where a script documents it: ``manhattan-client ping`` and
  ``manhattan-report`` when the server cannot answer, and 141 after the
  reader of the output went away (:mod:`manhattan.client.options`).

This module imports only the standard library: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn, TextIO

OK = 0
"""The exit status of a command that did its work or was stopped by a signal."""
USAGE = 2
"""The exit status of a usage error, or of a command that cannot start."""

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_WHOLE = re.compile(r"[+-]?[0-9]+")


class CommandExit(Exception):  # noqa: N818 - an exit, as SystemExit is, not an error
    """Ends a command with ``status``, after ``message`` (one line) on stderr
    if there is one. Raised by :class:`Parser` and :func:`fail`; :func:`run`
    turns it into the return value of ``main``. Control flow, not an error
    a caller of the library ever sees."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message


def fail(message: object) -> NoReturn:
    """End the command with status 2 and ``message`` as its one error line."""
    raise CommandExit(USAGE, str(message))


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that ends with :class:`CommandExit` instead of
    ``SystemExit``, and tells a usage error in one line, as other errors
    are told (the usage is what ``--help`` is for)."""

    def error(self, message: str) -> NoReturn:
        """A bad command line: status 2, ``message`` as the error line."""
        fail(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        """After ``--help``: status ``status``."""
        if message:
            sys.stderr.write(message)
        raise CommandExit(status)


def run(
    program: str,
    body: Callable[[], int],
    *,
    errors: tuple[type[Exception], ...] = (),
    stderr: TextIO | None = None,
) -> int:
    """``body()``'s exit status; 2 with one line ``PROGRAM: error: ...`` on
    ``stderr`` (default ``sys.stderr``) when it raises one of ``errors``
    (what stops it starting) or a usage error; the status of ``--help``."""
    try:
        return body()
    except CommandExit as exc:
        status, message = exc.status, exc.message
    except errors as exc:
        status, message = USAGE, str(exc)
    if message:
        print(f"{program}: error: {message}", file=sys.stderr if stderr is None else stderr)
    return status


# Argument types: each raises ArgumentTypeError, which argparse reports as
# "argument --FLAG: MESSAGE" (a ValueError would lose the message).


def whole_number(
    minimum: int, unit: str = "", *, maximum: int | None = None
) -> Callable[[str], int]:
    """An argparse ``type``: a whole number (of ``unit``) of at least
    ``minimum`` (and at most ``maximum``, if given)."""
    what = f"a whole number of {unit}" if unit else "a whole number"

    def parse(text: str) -> int:
        # ASCII digits only: int() also takes " 3", "1_000" and other scripts' digits.
        if not _WHOLE.fullmatch(text):
            raise argparse.ArgumentTypeError(f"must be {what}, not {text!r}")
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, not {value}")
        return value

    return parse


positive_int = whole_number(1)
"""A whole number of at least 1 (an argparse ``type``)."""
index = whole_number(0)
"""A whole number of at least 0, such as a partition number (an argparse ``type``)."""
milliseconds = whole_number(1, "milliseconds")
"""A positive whole number of milliseconds (an argparse ``type``)."""


def seconds(text: str) -> float:
    """A positive, finite number of seconds (an argparse ``type``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not 0 < value < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


# Logging


def add_logging_flags(
    parser: argparse.ArgumentParser, verbose: str, verbose_default: bool | None = False
) -> None:
    """Add ``--log FILE`` and ``-v/--verbose`` (whose help is ``verbose``).
    A ``verbose_default`` of ``None`` tells "not given" from "off", for a
    command whose config file may turn it on."""
    parser.add_argument(
        "--log",
        metavar="FILE",
        help="write the command's own log (errors, and with -v progress) to this file",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=verbose_default, help=verbose
    )


def setup_logging(*, verbose: bool, path: str | None, stream: TextIO) -> None:
    """Send the ``manhattan`` loggers' warnings and errors (and with
    ``verbose`` their progress) to the file ``path`` (appended), or to
    ``stream`` without one; ``OSError`` when the file cannot be opened."""
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("manhattan")
    for old in root.handlers:
        old.close()  # a file of an earlier run in this process
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


# Signals


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM and SIGINT set while inside, for the command
    to finish what it is doing and return 0; the handlers before are put
    back after. Outside the main thread (a command run by a test, say)
    Python delivers no signal, and nothing is installed."""
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, on_signal)
    try:
        yield stop
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
