"""What the console scripts share: argument types, the one-line parser,
exit statuses, logging setup and the stop on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from manhattan import _cli
from manhattan._cli import CommandExit, Parser


@pytest.fixture
def manhattan_logger() -> Iterator[logging.Logger]:
    """The ``manhattan`` logger, put back as it was after the test."""
    root = logging.getLogger("manhattan")
    handlers, level = root.handlers[:], root.level
    yield root
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


# Argument types


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        pytest.param(_cli.positive_int, "1", id="positive-1"),
        pytest.param(_cli.positive_int, "20000", id="positive-big"),
        pytest.param(_cli.positive_int, "+7", id="positive-plus"),
        pytest.param(_cli.positive_int, "007", id="positive-zeros"),
        pytest.param(_cli.index, "0", id="index-0"),
        pytest.param(_cli.index, "3", id="index-3"),
        pytest.param(_cli.milliseconds, "1500", id="ms"),
    ],
)
def test_whole_numbers_are_read_as_int_reads_them(parse: Callable[[str], int], text: str) -> None:
    assert parse(text) == int(text)


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        pytest.param(_cli.positive_int, "0", "must be at least 1, not 0", id="zero"),
        pytest.param(_cli.positive_int, "-3", "must be at least 1, not -3", id="negative"),
        pytest.param(_cli.positive_int, "ten", "must be a whole number, not 'ten'", id="word"),
        pytest.param(_cli.positive_int, "1.5", "must be a whole number, not '1.5'", id="fraction"),
        pytest.param(_cli.positive_int, "", "must be a whole number, not ''", id="empty"),
        pytest.param(_cli.positive_int, " 3", "must be a whole number, not ' 3'", id="space"),
        pytest.param(_cli.positive_int, "1_000", "must be a whole number, not '1_000'", id="_"),
        # int() reads other scripts' digits; a flag takes ASCII ones only.
        pytest.param(_cli.positive_int, "\u0663", "must be a whole number, not", id="arabic"),
        pytest.param(_cli.index, "-1", "must be at least 0, not -1", id="index-negative"),
        pytest.param(
            _cli.milliseconds,
            "1.5",
            "must be a whole number of milliseconds, not '1.5'",
            id="ms-fraction",
        ),
        pytest.param(_cli.milliseconds, "0", "must be at least 1, not 0", id="ms-zero"),
    ],
)
def test_bad_whole_numbers_say_what_was_expected(
    parse: Callable[[str], int], text: str, message: str
) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as raised:
        parse(text)
    assert str(raised.value).startswith(message)


@pytest.mark.parametrize("text", ["1", "0.25", "1e3", "30"])
def test_seconds_are_read_as_float_reads_them(text: str) -> None:
    assert _cli.seconds(text) == float(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("soon", "must be a number of seconds, not 'soon'", id="word"),
        pytest.param("0", "must be a positive number of seconds, not 0", id="zero"),
        pytest.param("-1", "must be a positive number of seconds, not -1", id="negative"),
        pytest.param("inf", "must be a positive number of seconds, not inf", id="inf"),
        pytest.param("nan", "must be a positive number of seconds, not nan", id="nan"),
    ],
)
def test_bad_seconds_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{message}$"):
        _cli.seconds(text)


def test_a_bad_value_is_told_with_its_flag() -> None:
    parser = Parser(prog="p")
    parser.add_argument("--every", type=_cli.positive_int)
    with pytest.raises(CommandExit) as raised:
        parser.parse_args(["--every", "0"])
    assert (raised.value.status, raised.value.message) == (
        2,
        "argument --every: must be at least 1, not 0",
    )


# The parser and the exit statuses


def test_a_usage_error_prints_nothing_itself(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CommandExit) as raised:
        Parser(prog="p").parse_args(["--bogus"])
    assert (raised.value.status, raised.value.message) == (2, "unrecognized arguments: --bogus")
    assert capsys.readouterr() == ("", "")


def test_help_ends_with_status_0_after_printing_it(capsys: pytest.CaptureFixture[str]) -> None:
    parser = Parser(prog="p", description="Does p.")
    with pytest.raises(CommandExit) as raised:
        parser.parse_args(["--help"])
    assert (raised.value.status, raised.value.message) == (0, "")
    out, err = capsys.readouterr()
    assert out == parser.format_help()
    assert err == ""


def test_an_exit_with_a_message_writes_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CommandExit) as raised:
        Parser(prog="p").exit(3, "p: went away\n")
    assert raised.value.status == 3
    assert capsys.readouterr() == ("", "p: went away\n")


def test_fail_ends_with_status_2_and_the_message() -> None:
    with pytest.raises(CommandExit) as raised:
        _cli.fail(ValueError("no such thing"))
    assert (raised.value.status, raised.value.message) == (_cli.USAGE, "no such thing")


def test_run_returns_the_body_status(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.run("p", lambda: 7) == 7
    assert capsys.readouterr() == ("", "")


def body_raising(error: Exception) -> Callable[[], int]:
    def body() -> int:
        raise error

    return body


@pytest.mark.parametrize(
    ("error", "status", "err"),
    [
        pytest.param(CommandExit(2, "bad flag"), 2, "p: error: bad flag\n", id="usage"),
        pytest.param(CommandExit(0), 0, "", id="help"),
        pytest.param(OSError("disk gone"), 2, "p: error: disk gone\n", id="start-error"),
    ],
)
def test_run_turns_exits_and_start_errors_into_a_status_and_one_line(
    error: Exception, status: int, err: str
) -> None:
    stderr = io.StringIO()
    assert _cli.run("p", body_raising(error), errors=(OSError,), stderr=stderr) == status
    assert stderr.getvalue() == err


def test_run_writes_to_sys_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.run("p", body_raising(CommandExit(2, "bad"))) == 2
    assert capsys.readouterr() == ("", "p: error: bad\n")


def test_run_lets_other_errors_through() -> None:
    # A bug shows its traceback: only the errors named end in one line.
    with pytest.raises(KeyError):
        _cli.run("p", body_raising(KeyError("bug")), errors=(OSError,))


# Logging


def test_logging_flags_and_their_defaults() -> None:
    parser = Parser(prog="p")
    _cli.add_logging_flags(parser, verbose="say more", verbose_default=None)
    assert vars(parser.parse_args([])) == {"log": None, "verbose": None}
    args = parser.parse_args(["-v", "--log", "own.log"])
    assert (args.verbose, args.log) == (True, "own.log")
    assert "say more" in parser.format_help()
    plain = Parser(prog="p")
    _cli.add_logging_flags(plain, verbose="say more")
    assert vars(plain.parse_args([])) == {"log": None, "verbose": False}


@pytest.mark.parametrize(
    ("verbose", "shown"),
    [pytest.param(False, ["late"], id="quiet"), pytest.param(True, ["counted", "late"], id="-v")],
)
def test_logging_to_a_stream(
    manhattan_logger: logging.Logger, verbose: bool, shown: list[str]
) -> None:
    stream = io.StringIO()
    _cli.setup_logging(verbose=verbose, path=None, stream=stream)
    logger = logging.getLogger("manhattan.test")
    logger.info("counted")
    logger.warning("late")
    lines = stream.getvalue().splitlines()
    assert [line.rpartition(": ")[2] for line in lines] == shown
    assert all(" manhattan.test: " in line for line in lines)


def test_logging_to_a_file_replaces_and_closes_the_last_handler(
    manhattan_logger: logging.Logger, tmp_path: Path
) -> None:
    stream = io.StringIO()
    _cli.setup_logging(verbose=False, path=str(tmp_path / "first.log"), stream=stream)
    first = manhattan_logger.handlers[0]
    _cli.setup_logging(verbose=False, path=str(tmp_path / "second.log"), stream=stream)
    assert isinstance(first, logging.FileHandler)
    assert first.stream is None  # closed
    logging.getLogger("manhattan.test").error("broken")
    assert (tmp_path / "first.log").read_text() == ""
    assert (tmp_path / "second.log").read_text().endswith(" ERROR manhattan.test: broken\n")
    assert stream.getvalue() == ""


def test_logging_to_a_file_that_cannot_be_opened_is_an_os_error(
    manhattan_logger: logging.Logger, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        _cli.setup_logging(
            verbose=False, path=str(tmp_path / "no" / "x.log"), stream=io.StringIO()
        )


# Signals


@pytest.mark.parametrize("signum", _cli.STOP_SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_sets_the_event_and_the_handlers_come_back(signum: int) -> None:
    before = signal.getsignal(signum)
    with _cli.stop_on_signals() as stop:
        assert signal.getsignal(signum) is not before
        os.kill(os.getpid(), signum)
        assert stop.wait(5)
    assert signal.getsignal(signum) is before


def test_outside_the_main_thread_no_handler_is_installed() -> None:
    before = [signal.getsignal(signum) for signum in _cli.STOP_SIGNALS]
    seen: list[object] = []

    def inside() -> None:
        with _cli.stop_on_signals() as stop:
            seen.extend(signal.getsignal(signum) for signum in _cli.STOP_SIGNALS)
            seen.append(stop.is_set())

    thread = threading.Thread(target=inside)
    thread.start()
    thread.join(5)
    assert seen == [*before, False]
