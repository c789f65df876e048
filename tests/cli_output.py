"""What the console scripts' tests check of a failed run: one error line."""

from __future__ import annotations


def error_line(captured: tuple[str, str], program: str) -> str:
    """The message of the one line ``PROGRAM: error: MESSAGE`` that
    ``captured`` (stdout and stderr, as ``capsys.readouterr()``) holds on
    stderr, with nothing on stdout: no usage text, no traceback."""
    out, err = captured
    prefix = f"{program}: error: "
    assert out == ""
    assert err.startswith(prefix), err
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    return err[len(prefix) : -1]
