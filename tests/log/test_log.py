"""``manhattan.log``: the protocols, and the log classes loaded on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import manhattan.log

CLASSES = {
    "MemoryLog": "manhattan.log.memory",
    "RedisStreamLog": "manhattan.log.redisstream",
    "RemoteLog": "manhattan.log.remote",
    "RemoteLogError": "manhattan.log.remote",
    "TimeRotatingLog": "manhattan.log.timerotating",
}


@pytest.mark.parametrize(
    ("name", "module"), [pytest.param(*item, id=item[0]) for item in CLASSES.items()]
)
def test_log_class_is_the_one_of_its_module(name: str, module: str) -> None:
    assert getattr(manhattan.log, name) is getattr(importlib.import_module(module), name)
    assert name in manhattan.log.__all__
    assert name in dir(manhattan.log)


def test_from_import_of_a_log_class() -> None:
    from manhattan.log import TimeRotatingLog, timerotating

    assert TimeRotatingLog is timerotating.TimeRotatingLog


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match=r"'manhattan\.log' has no attribute 'FileLog'"):
        getattr(manhattan.log, "FileLog")  # noqa: B009


def test_importing_the_package_loads_no_log_class() -> None:
    # A site using the file log imports no Redis client.
    code = "import sys, manhattan.log; print(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(result.stdout.split())
    assert not loaded & {*CLASSES.values(), "redis"}


class CountingReader:
    """A user's reader: records from a list, skipped lines counted in a property."""

    def __init__(self) -> None:
        self._skipped = 0

    @property
    def malformed(self) -> int:
        return self._skipped

    def process(
        self,
        process_from: str | None = None,
        stay_alive: bool = False,
        killed_event: threading.Event | None = None,
    ) -> Iterator[tuple[list[str], str]]:
        yield from ()


def _redis_stream_log(tmp_path: Path) -> object:
    from manhattan.log.redisstream import RedisStreamLog

    return RedisStreamLog("redis://127.0.0.1:1/0", "s", fallback=tmp_path / "fallback")


def _stream_reader(tmp_path: Path) -> object:
    import redis

    from manhattan.log.streamreader import StreamReader

    return StreamReader(redis.Redis(), "s", [0])


OURS = [
    pytest.param(
        lambda tmp_path: manhattan.log.TimeRotatingLog(tmp_path / "events"),
        {"Log", "LogReader", "BatchReader", "CountsMalformed", "Lagging"},
        id="TimeRotatingLog",
    ),
    pytest.param(lambda tmp_path: manhattan.log.MemoryLog(), {"Log", "LogReader"}, id="MemoryLog"),
    pytest.param(_redis_stream_log, {"Log"}, id="RedisStreamLog"),
    pytest.param(_stream_reader, {"BatchReader"}, id="StreamReader"),
    pytest.param(
        lambda tmp_path: CountingReader(), {"LogReader", "CountsMalformed"}, id="a-users"
    ),
]
PROTOCOLS = ["Log", "LogReader", "BatchReader", "CountsMalformed", "Lagging"]


@pytest.mark.parametrize(("make", "expected"), OURS)
def test_each_log_is_an_instance_of_the_protocols_it_implements(
    tmp_path: Path, make: Callable[[Path], object], expected: set[str]
) -> None:
    log = make(tmp_path)
    try:
        found = {name for name in PROTOCOLS if isinstance(log, getattr(manhattan.log, name))}
    finally:
        close = getattr(log, "close", None)
        if close is not None:
            close()
    assert found == expected


@pytest.mark.parametrize("name", PROTOCOLS)
def test_each_protocol_says_who_implements_it_and_who_calls_it(name: str) -> None:
    protocol = getattr(manhattan.log, name)
    doc = protocol.__doc__ or ""
    assert "Implement" in doc
    assert name in manhattan.log.__all__
