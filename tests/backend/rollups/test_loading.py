"""Tests of manhattan.backend.rollups.loading."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from manhattan.backend.model import NO_VISIT, Rollup, Visit
from manhattan.backend.rollups.loading import build_rollups, default_rollups, load_rollup
from manhattan.backend.rollups.timed import DayRollup, HourRollup, MonthRollup, WeekRollup
from manhattan.backend.rollups.visits import AllRollup, FunctionRollup


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """The timestamp of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# --- helpers named by dotted path below ------------------------------------


def country_header(timestamp: float, visit: Visit) -> str:
    """A user rollup: the country a CDN put in a recorded header."""
    return visit.headers.get("CF-IPCountry", "??")


def not_a_string(timestamp: float, visit: Visit) -> str:
    return 42  # type: ignore[return-value]


class PathRollup:
    """A user Rollup class: the first path segment of the landing page."""

    name = "landing"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return visit.url.split("/")[3] if visit.url.count("/") >= 3 else ""


class Holder:
    country = staticmethod(country_header)


class FailingRollup:
    name = "failing"
    per_visitor = True

    def __init__(self) -> None:
        raise RuntimeError("no config")

    def bucket(self, timestamp: float, visit: Visit) -> str:
        raise NotImplementedError


NOT_A_ROLLUP = 42
HERE = __name__


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


def test_load_rollup_returns_rollups_as_they_are() -> None:
    rollup = DayRollup("Europe/Paris")
    assert load_rollup(rollup) is rollup
    assert load_rollup(rollup, "day") is rollup
    with pytest.raises(ValueError, match="is named 'day', not 'today'"):
        load_rollup(rollup, "today")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{HERE}:country_header", id="colon"),
        pytest.param(f"{HERE}.country_header", id="dotted"),
        pytest.param(f"{HERE}:Holder.country", id="nested-attribute"),
        pytest.param(f" {HERE}:country_header ", id="spaces"),
    ],
)
def test_load_rollup_imports_a_function_by_dotted_path(path: str) -> None:
    rollup = load_rollup(path, "country")
    assert isinstance(rollup, FunctionRollup)
    assert (rollup.name, rollup.per_visitor) == ("country", False)
    visit = Visit(url="http://shop/", headers={"CF-IPCountry": "NZ"})
    assert rollup.bucket(0.0, visit) == "NZ"
    assert rollup.bucket(0.0, NO_VISIT) == "??"


def test_load_rollup_wraps_a_callable() -> None:
    rollup = load_rollup(country_header, "country")
    assert isinstance(rollup, FunctionRollup)
    assert rollup.bucket(0.0, Visit(headers={"CF-IPCountry": "FR"})) == "FR"


def test_load_rollup_instantiates_a_rollup_class() -> None:
    for spec in (f"{HERE}:PathRollup", PathRollup):
        rollup = load_rollup(spec)
        assert isinstance(rollup, PathRollup)
        assert rollup.bucket(0.0, Visit(url="http://shop.example/sale/shoes")) == "sale"
    assert isinstance(load_rollup("manhattan.backend.rollups:DayRollup"), DayRollup)
    assert load_rollup(PathRollup, "landing").name == "landing"


@pytest.mark.parametrize(
    ("spec", "name", "message"),
    [
        pytest.param(f"{HERE}:country_header", None, "needs a name", id="function-no-name"),
        pytest.param(country_header, None, "needs a name", id="callable-no-name"),
        pytest.param("nodots", "x", "not a dotted path", id="no-dots"),
        pytest.param(":thing", "x", "not a dotted path", id="no-module"),
        pytest.param(f"{HERE}:", "x", "not a dotted path", id="no-attribute"),
        pytest.param("no_such_module_xyz:thing", "x", "cannot import", id="no-module-found"),
        pytest.param(f"{HERE}:missing", "x", "has no attribute 'missing'", id="no-attr"),
        pytest.param(f"{HERE}:Holder.missing", "x", "no attribute 'Holder.missing'", id="deep"),
        pytest.param(f"{HERE}:NOT_A_ROLLUP", "x", "neither a Rollup nor", id="int"),
        pytest.param(42, "x", "neither a Rollup nor", id="not-a-spec"),
        pytest.param(f"{HERE}:FailingRollup", None, "cannot instantiate: no config", id="init"),
        pytest.param(f"{HERE}:PathRollup", "other", "named 'landing', not 'other'", id="renamed"),
    ],
)
def test_load_rollup_refuses_what_it_cannot_use(
    spec: object, name: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match="rollup") as error:
        load_rollup(spec, name)  # type: ignore[arg-type]
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        pytest.param({"name": ""}, "name must be a non-empty string", id="empty-name"),
        pytest.param({"name": 5}, "name must be a non-empty string", id="int-name"),
        pytest.param({"per_visitor": "yes"}, "per_visitor must be a bool", id="per-visitor"),
    ],
)
def test_load_rollup_checks_rollup_attributes(attributes: dict[str, object], message: str) -> None:
    rollup = PathRollup()
    for key, value in attributes.items():
        setattr(rollup, key, value)
    with pytest.raises(ValueError, match=message):
        load_rollup(rollup)


def test_load_rollup_reports_a_module_failing_on_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_rollup_module.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="cannot import 'broken_rollup_module': boom"):
        load_rollup("broken_rollup_module:rollup", "x")


# --- configuration ---------------------------------------------------------

ALL_NAMES = [
    "all",
    "day",
    "week",
    "month",
    "browser",
    "browser_version",
    "referrer",
    "network",
    "hour",
    "utm_source",
    "utm_medium",
    "utm_campaign",
]


def test_default_rollups_are_every_built_in_in_order() -> None:
    made = default_rollups("America/New_York", 0)
    assert [rollup.name for rollup in made] == ALL_NAMES
    assert all(isinstance(rollup, Rollup) for rollup in made)
    day, week, month = made[1:4]
    assert isinstance(day, DayRollup)
    assert isinstance(week, WeekRollup)
    assert isinstance(month, MonthRollup)
    assert (day.tz, week.tz, month.tz, week.first_weekday) == (("America/New_York",) * 3 + (0,))
    # 2024-03-31 03:30 UTC is Saturday 23:30 in New York: a Monday-start week.
    assert week.bucket(utc(2024, 3, 31, 3, 30), NO_VISIT) == "2024-03-25"
    hour = made[ALL_NAMES.index("hour")]
    assert isinstance(hour, HourRollup)
    assert hour.bucket(utc(2024, 3, 31, 3, 30), NO_VISIT) == "2024-03-30T23"
    landing = Visit(url="https://shop.example/?utm_source=Mail&utm_medium=email&utm_campaign=x")
    utm = [rollup.bucket(0.0, landing) for rollup in made[-3:]]
    assert utm == ["mail", "email", "x"]
    assert [r.name for r in default_rollups()] == ALL_NAMES
    assert default_rollups()[2].first_weekday == 6  # type: ignore[attr-defined]


def test_build_rollups_from_built_in_names() -> None:
    made = build_rollups(["day", "week", "browser"], tz="Europe/London", first_weekday=0)
    assert [rollup.name for rollup in made] == ["all", "day", "week", "browser"]
    assert isinstance(made[0], AllRollup)
    assert made[1].bucket(utc(2024, 3, 31, 23), NO_VISIT) == "2024-04-01"  # BST midnight
    assert made[2].bucket(utc(2024, 3, 31, 12), NO_VISIT) == "2024-03-25"  # Monday start
    assert [r.name for r in build_rollups(ALL_NAMES)] == ALL_NAMES
    assert [r.name for r in build_rollups(["day", "all"])] == ["day", "all"]
    assert [r.name for r in build_rollups([])] == ["all"]


def test_build_rollups_from_a_mapping_with_user_rollups() -> None:
    made = build_rollups(
        {
            "day": "day",
            "country": f"{HERE}:country_header",
            "landing": f"{HERE}:PathRollup",
            "hour": lambda ts, visit: "12",
        }
    )
    assert [rollup.name for rollup in made] == ["all", "day", "country", "landing", "hour"]
    assert made[2].bucket(0.0, Visit(headers={"CF-IPCountry": "JP"})) == "JP"
    assert made[3].per_visitor is True


def test_build_rollups_mixes_names_and_objects_in_a_list() -> None:
    mine = PathRollup()
    made = build_rollups(["all", mine, "referrer"])
    assert made[1] is mine
    assert [rollup.name for rollup in made] == ["all", "landing", "referrer"]


def test_a_user_rollup_may_take_the_name_of_an_unused_built_in() -> None:
    (_, browser) = build_rollups({"browser": f"{HERE}:country_header"})
    assert isinstance(browser, FunctionRollup)
    assert browser.bucket(0.0, Visit(user_agent=CHROME, headers={"CF-IPCountry": "DE"})) == "DE"


def test_build_rollups_takes_mappings_in_the_list() -> None:
    made = build_rollups(["day", {"country": f"{HERE}:country_header", "landing": PathRollup}])
    assert [rollup.name for rollup in made] == ["all", "day", "country", "landing"]
    assert made[2].bucket(0.0, Visit(headers={"CF-IPCountry": "BR"})) == "BR"


def test_build_rollups_without_specs_gives_every_built_in() -> None:
    made = build_rollups(tz="Asia/Tokyo", networks={"office": "198.51.100.0/24"})
    assert [rollup.name for rollup in made] == ALL_NAMES
    assert made[1].bucket(utc(2023, 12, 31, 15), NO_VISIT) == "2024-01-01"
    network = made[ALL_NAMES.index("network")]
    assert network.bucket(0.0, Visit(ip="198.51.100.3")) == "office"
    hour = made[ALL_NAMES.index("hour")]
    assert hour.bucket(utc(2023, 12, 31, 15), NO_VISIT) == "2024-01-01T00"


def test_build_rollups_passes_networks_to_the_network_rollup() -> None:
    (_, network) = build_rollups(["network"], networks={"office": "198.51.100.0/24"})
    assert network.bucket(0.0, Visit(ip="198.51.100.3")) == "office"
    assert network.bucket(0.0, Visit(ip="203.0.113.3")) == "203.0.113.0/24"


@pytest.mark.parametrize(
    ("specs", "kwargs", "message"),
    [
        pytest.param(["day", "day"], {}, "'day' is configured twice", id="duplicate"),
        pytest.param(["all", "all"], {}, "'all' is configured twice", id="duplicate-all"),
        pytest.param(
            {"browser": f"{HERE}:country_header", "b": "browser"},
            {},
            "built-in rollup 'browser' cannot be named 'b'",
            id="renamed-built-in",
        ),
        pytest.param(
            ["browser", PathRollup(), PathRollup()],
            {},
            "'landing' is configured twice",
            id="duplicate-user",
        ),
        pytest.param(["daily"], {}, "not a dotted path", id="unknown-name"),
        pytest.param([country_header], {}, "needs a name", id="unnamed-function"),
        pytest.param("day", {}, "must be a list or a mapping, not 'day'", id="string"),
        pytest.param(5, {}, "must be a list or a mapping, not 5", id="int"),
        pytest.param(
            [{"b": "browser"}], {}, "'browser' cannot be named 'b'", id="renamed-in-list"
        ),
        pytest.param(["browser"], {"tz": "Mars/Olympus"}, "'Mars/Olympus'", id="bad-tz"),
        pytest.param(["week"], {"first_weekday": 7}, "first weekday", id="bad-weekday"),
        pytest.param(["network"], {"networks": {"x": "nope"}}, "bad CIDR", id="bad-networks"),
    ],
)
def test_build_rollups_refuses_bad_configurations(
    specs: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_rollups(specs, **kwargs)  # type: ignore[arg-type]
