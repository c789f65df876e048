"""Server settings from flags and a config dict."""

from __future__ import annotations

import math
import sys
import types
from collections.abc import Iterator
from typing import Any

import pytest

from manhattan.server.config import ConfigError, Settings, load_config, merge


@pytest.fixture
def config_module() -> Iterator[types.ModuleType]:
    module = types.ModuleType("analytics_settings_for_tests")
    module.CONFIG = {"path": "/var/log/m/log", "complex": ("a|b|c",), "timezone": "Europe/Paris"}  # type: ignore[attr-defined]
    module.NOT_A_DICT = ["path"]  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_config_dict_with_flags_winning(config_module: types.ModuleType) -> None:
    config = load_config("analytics_settings_for_tests.CONFIG")
    settings = merge(config, {"timezone": "Asia/Tokyo", "url": None, "flush_every": 5})
    assert settings.path == "/var/log/m/log"
    assert settings.complex == ["a|b|c"]
    assert settings.timezone == "Asia/Tokyo"
    assert settings.url == "sqlite:///manhattan.db"  # a flag not given keeps the default
    assert settings.flush_every == 5


def test_colon_form_of_the_dotted_path(config_module: types.ModuleType) -> None:
    assert load_config("analytics_settings_for_tests:CONFIG")["path"] == "/var/log/m/log"


@pytest.mark.parametrize(
    ("dotted", "message"),
    [
        pytest.param("CONFIG", "must be a dotted path", id="no-module"),
        pytest.param(
            "no_such_module_here.CONFIG", "cannot import no_such_module_here", id="import"
        ),
        pytest.param("analytics_settings_for_tests.MISSING", "has no MISSING", id="attribute"),
        pytest.param("analytics_settings_for_tests.NOT_A_DICT", "must name a dict", id="not-dict"),
    ],
)
def test_bad_config_paths(config_module: types.ModuleType, dotted: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(dotted)


def test_unknown_config_keys_are_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown setting.*flush_evry"):
        merge({"path": "x", "flush_evry": 3}, {})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"path": ""}, "--path or --redis is required", id="no-path"),
        pytest.param({"redis": "redis://h"}, "--path and --redis cannot", id="path-and-redis"),
        pytest.param({"partitions": "2"}, "partitions must be an integer", id="partitions-type"),
        pytest.param({"partitions": True}, "partitions must be an integer", id="partitions-bool"),
        pytest.param({"partitions": 0}, "partitions must be at least 1", id="partitions-zero"),
        pytest.param({"partition": "0"}, "partition must be a list", id="partition-str"),
        pytest.param({"partition": [True]}, "partition must be a list", id="partition-bool"),
        pytest.param(
            {"partitions": 2, "partition": [0, 2]}, "--partition 2 is not one of the 2", id="high"
        ),
        pytest.param({"partition": [-1]}, "--partition -1 is not one of the 1", id="negative-i"),
        pytest.param({"partition": [0]}, "--partition needs --redis", id="partition-file-log"),
        pytest.param({"path": "", "redis": "r", "stream": ""}, "stream must name", id="stream"),
        pytest.param({"keep_stream": "no"}, "keep_stream must be True or False", id="keep-stream"),
        pytest.param({"week_start": "friday"}, "week_start must be one of", id="week-start"),
        pytest.param({"flush_every": "10"}, "flush_every must be an integer", id="every-type"),
        pytest.param({"flush_every": True}, "flush_every must be an integer", id="every-bool"),
        pytest.param({"flush_every": 0}, "flush_every must be at least 1", id="every-zero"),
        pytest.param({"flush_seconds": "1"}, "flush_seconds must be a number", id="seconds-type"),
        pytest.param({"flush_seconds": -1}, "flush_seconds must be positive", id="negative"),
        pytest.param({"flush_seconds": math.inf}, "flush_seconds must be positive", id="inf"),
        pytest.param({"capacity": 1.5}, "capacity must be an integer", id="capacity-type"),
        pytest.param({"capacity": 0}, "capacity must be at least 1", id="capacity-zero"),
        pytest.param({"complex": "a|b|c"}, "complex must be a list", id="complex-str"),
        pytest.param({"complex": [1]}, "complex must be a list", id="complex-item"),
        pytest.param({"networks": ["10.0.0.0/8"]}, "networks must be a dict", id="networks"),
        pytest.param({"rollups": "day"}, "rollups must be a list", id="rollups"),
    ],
)
def test_bad_settings_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**{"path": "x", **values}).check()


def test_stream_settings_from_a_config_with_a_tuple_of_partitions() -> None:
    settings = merge(
        {"redis": "redis://127.0.0.1:6379/0", "partitions": 4, "partition": (1, 3)},
        {"stream": "events"},
    )
    assert (settings.path, settings.redis, settings.stream) == (
        "",
        "redis://127.0.0.1:6379/0",
        "events",
    )
    assert (settings.partitions, settings.partition) == (4, [1, 3])


def test_defaults_are_valid() -> None:
    settings = Settings(path="/log").check()
    assert (settings.bind, settings.week_start, settings.once) == (
        "tcp://127.0.0.1:5555",
        "sunday",
        False,
    )
