"""The client commands' shared flags, and their ending on a broken pipe."""

from __future__ import annotations

import argparse
import os

import pytest

from manhattan.client import DEFAULT_CONNECT, DEFAULT_WAIT
from manhattan.client.options import (
    BROKEN_PIPE_STATUS,
    add_connection_flags,
    curve_options,
    end_broken_pipe,
    milliseconds,
)


def parse(argv: list[str], wait: int = DEFAULT_WAIT) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_connection_flags(parser, wait=wait)
    return parser.parse_args(argv)


def test_defaults() -> None:
    args = parse([])

    assert (args.connect, args.wait) == (DEFAULT_CONNECT, DEFAULT_WAIT)
    assert curve_options(args) == {"curve_server_key": None, "curve_secret_key": None}
    assert parse([], wait=1500).wait == 1500


def test_key_flags() -> None:
    args = parse(["--curve-server-key", "s.key", "--curve-secret-key", "me.key_secret"])

    assert curve_options(args) == {
        "curve_server_key": "s.key",
        "curve_secret_key": "me.key_secret",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("0", "must be positive: '0'", id="zero"),
        pytest.param("-3", "must be positive: '-3'", id="negative"),
        pytest.param("1.5", "not a whole number of milliseconds: '1.5'", id="fraction"),
    ],
)
def test_milliseconds_are_positive_whole_numbers(text: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        milliseconds(text)


def test_a_broken_pipe_points_the_stream_at_the_null_device() -> None:
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as out:
        out.write("lost")
        with pytest.raises(BrokenPipeError):
            out.flush()
        assert end_broken_pipe(out) == BROKEN_PIPE_STATUS == 141
        out.write("and nobody minds")
        out.flush()
