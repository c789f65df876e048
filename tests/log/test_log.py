"""``manhattan.log``: the protocols, and the log classes loaded on first use."""

from __future__ import annotations

import importlib
import subprocess
import sys

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
