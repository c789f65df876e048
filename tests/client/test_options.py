"""The client commands' shared flags, and their ending on a broken pipe."""

from __future__ import annotations

import argparse
import os

import pytest

from manhattan import _cli
from manhattan.client import DEFAULT_CONNECT, DEFAULT_WAIT
from manhattan.client.options import (
    BROKEN_PIPE_STATUS,
    add_connection_flags,
    curve_options,
    end_broken_pipe,
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


def test_wait_must_be_a_positive_number_of_milliseconds() -> None:
    parser = _cli.Parser()
    add_connection_flags(parser)
    with pytest.raises(_cli.CommandExit) as raised:
        parser.parse_args(["--wait", "1.5"])
    assert raised.value.message == (
        "argument --wait: must be a whole number of milliseconds, not '1.5'"
    )


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
