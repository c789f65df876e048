"""Server settings: from command-line flags and an optional config dict.

``--config pkg.module.NAME`` names a Python dict whose keys are the long
flag names with ``_`` for ``-`` (``path``, ``url``, ``complex``, ``bind``,
``log``, ``verbose``, ``once``, ``timezone``, ``week_start``,
``flush_every``, ``flush_seconds``, ``capacity``, ``redis``, ``stream``,
``partitions``, ``partition`` (a list), ``keep_stream``,
``lease_seconds``, ``curve_secret_key``, ``curve_clients``,
``retain_days``, ``funnel`` (a list), ``within``, ``page_rollups`` and
``keep_query_params`` (lists), ``max_paths_per_day``), plus what
only a config can say: ``rollups`` (a list of built-in names and ``{name:
dotted path}``) and ``networks`` (``{name: CIDR or [CIDRs]}`` for the
network rollup).
Flags given on the command line win over the config.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from manhattan.exceptions import ConfigError as ConfigError

WEEK_STARTS = {"monday": 0, "sunday": 6, "saturday": 5}


@dataclass
class Settings:
    """Everything ``manhattan-server`` needs to run."""

    path: str = ""
    redis: str = ""
    stream: str = "manhattan"
    partitions: int = 1
    partition: list[int] = field(default_factory=list)
    keep_stream: bool = False
    url: str = "sqlite:///manhattan.db"
    complex: list[str] = field(default_factory=list)
    funnel: list[str] = field(default_factory=list)
    within: str | None = None
    bind: str = "tcp://127.0.0.1:5555"
    curve_secret_key: str | None = None
    curve_clients: str | None = None
    log: str | None = None
    verbose: bool = False
    once: bool = False
    timezone: str = "UTC"
    week_start: str = "sunday"
    flush_every: int = 20_000
    flush_seconds: float = 1.0
    capacity: int = 50_000
    lease_seconds: float = 30.0
    query_only: bool = False
    retain_days: int | None = None
    page_rollups: list[str] | None = None
    max_paths_per_day: int = 1000
    keep_query_params: list[str] = field(default_factory=list)
    rollups: list[Any] | None = None
    networks: dict[str, Any] = field(default_factory=dict)

    def check(self) -> Settings:
        """Validate every value; ``ConfigError`` naming the first bad one."""
        if self.query_only:
            if self.path or self.redis or self.once:
                raise ConfigError(
                    "--query-only reads no log: leave out --path, --redis and --once"
                )
        elif not self.path and not self.redis:
            raise ConfigError(
                "--path or --redis is required: the log to read "
                "(e.g. /var/log/manhattan/log, or redis://127.0.0.1:6379/0)"
            )
        if self.path and self.redis:
            raise ConfigError("--path and --redis cannot be used together: read one log")
        self._check_partitions()
        for name in ("curve_secret_key", "curve_clients"):
            if not isinstance(getattr(self, name), str | None):
                raise ConfigError(f"{name} must be a file path, not {getattr(self, name)!r}")
        if self.curve_clients and not self.curve_secret_key:
            raise ConfigError("--curve-clients needs --curve-secret-key: the server's own key")
        if not isinstance(self.keep_stream, bool):
            raise ConfigError(f"keep_stream must be True or False, not {self.keep_stream!r}")
        if self.week_start not in WEEK_STARTS:
            raise ConfigError(
                f"week_start must be one of {', '.join(WEEK_STARTS)}, not {self.week_start!r}"
            )
        if isinstance(self.flush_every, bool) or not isinstance(self.flush_every, int):
            raise ConfigError(f"flush_every must be an integer, not {self.flush_every!r}")
        if self.flush_every < 1:
            raise ConfigError(f"flush_every must be at least 1, not {self.flush_every}")
        if isinstance(self.flush_seconds, bool) or not isinstance(self.flush_seconds, int | float):
            raise ConfigError(f"flush_seconds must be a number, not {self.flush_seconds!r}")
        if not math.isfinite(self.flush_seconds) or self.flush_seconds <= 0:
            raise ConfigError(f"flush_seconds must be positive, not {self.flush_seconds}")
        if isinstance(self.lease_seconds, bool) or not isinstance(self.lease_seconds, int | float):
            raise ConfigError(f"lease_seconds must be a number, not {self.lease_seconds!r}")
        if not math.isfinite(self.lease_seconds) or self.lease_seconds <= 0:
            raise ConfigError(f"lease_seconds must be positive, not {self.lease_seconds}")
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int):
            raise ConfigError(f"capacity must be an integer, not {self.capacity!r}")
        if self.capacity < 1:
            raise ConfigError(f"capacity must be at least 1, not {self.capacity}")
        if not isinstance(self.complex, list) or not all(
            isinstance(spec, str) for spec in self.complex
        ):
            raise ConfigError("complex must be a list of 'name|include|exclude' strings")
        self._check_funnels()
        if not isinstance(self.networks, dict):
            raise ConfigError(f"networks must be a dict of name -> CIDR, not {self.networks!r}")
        if self.rollups is not None and not isinstance(self.rollups, list):
            raise ConfigError(f"rollups must be a list, not {self.rollups!r}")
        if self.retain_days is not None:
            self._check_retain_days(self.retain_days)
        self._check_pages()
        return self

    def _check_pages(self) -> None:
        # Which rollups may hold pages is checked where they are built.
        for name in ("page_rollups", "keep_query_params"):
            value = getattr(self, name)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) and v for v in value)
            ):
                raise ConfigError(f"{name} must be a list of names, not {value!r}")
        paths = self.max_paths_per_day
        if isinstance(paths, bool) or not isinstance(paths, int) or paths < 1:
            raise ConfigError(
                f"max_paths_per_day must be a whole number of at least 1, not {paths!r}"
            )

    def _check_funnels(self) -> None:
        # The specs themselves are parsed (and refused) where the server
        # starts, with the complex goals they must not clash with.
        if not isinstance(self.funnel, list) or not all(
            isinstance(spec, str) for spec in self.funnel
        ):
            raise ConfigError("funnel must be a list of 'name|step1>step2>...' strings")
        if self.funnel and self.query_only:
            raise ConfigError("--query-only counts nothing: leave out --funnel")
        if self.within is not None:
            if not isinstance(self.within, str):
                raise ConfigError(f"within must be a window such as '1d', not {self.within!r}")
            if not self.funnel:
                raise ConfigError("--within is the window of the funnels: give a --funnel")

    def _check_retain_days(self, days: object) -> None:
        if isinstance(days, bool) or not isinstance(days, int):
            raise ConfigError(f"retain_days must be a whole number of days, not {days!r}")
        if days < 1:
            raise ConfigError(f"retain_days must be at least 1, not {days}")
        if not self.path:
            raise ConfigError(
                "--retain-days deletes the counted hour files of a --path log: "
                "it cannot be used with --redis (a stream is trimmed as it is counted) "
                "or --query-only"
            )

    def _check_partitions(self) -> None:
        if isinstance(self.partitions, bool) or not isinstance(self.partitions, int):
            raise ConfigError(f"partitions must be an integer, not {self.partitions!r}")
        if self.partitions < 1:
            raise ConfigError(f"partitions must be at least 1, not {self.partitions}")
        if not isinstance(self.partition, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in self.partition
        ):
            raise ConfigError(
                f"partition must be a list of partition numbers, not {self.partition!r}"
            )
        for i in self.partition:
            if not 0 <= i < self.partitions:
                raise ConfigError(
                    f"--partition {i} is not one of the {self.partitions} partitions "
                    f"(0 to {self.partitions - 1}; set --partitions)"
                )
        if self.partition and not self.redis:
            raise ConfigError("--partition needs --redis: only a stream log has partitions")
        if not self.stream:
            raise ConfigError("stream must name the Redis stream, not be empty")


def load_config(dotted: str) -> dict[str, Any]:
    """The dict at ``pkg.module.NAME`` (or ``pkg.module:NAME``); ``ConfigError`` if none."""
    module_name, sep, attribute = dotted.replace(":", ".").rpartition(".")
    if not sep or not module_name or not attribute:
        raise ConfigError(
            f"--config must be a dotted path like mysite.analytics.CONFIG, not {dotted!r}"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"--config {dotted}: cannot import {module_name}: {exc}") from None
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"--config {dotted}: {module_name} has no {attribute}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"--config {dotted} must name a dict, not a {type(value).__name__}")
    return dict(value)


def merge(config: Mapping[str, Any], flags: Mapping[str, Any]) -> Settings:
    """Settings from a config dict, overridden by the flags that were given (not None)."""
    known = {item.name for item in fields(Settings)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) in config: {', '.join(map(str, unknown))}")
    values = dict(config)
    for name, value in flags.items():
        if value is not None and name in known:
            values[name] = value
    for name in ("complex", "partition", "funnel", "page_rollups", "keep_query_params"):
        if isinstance(values.get(name), tuple):
            values[name] = list(values[name])
    return Settings(**values).check()
