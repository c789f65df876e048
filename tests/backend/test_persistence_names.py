"""Names a query gives that the store never saw: refused with the closest
known names, while known names without counts stay zeros; on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, GoalInfo, QueryError, TestInfo
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence.queries import Names, unknown_message, unknown_names
from manhattan.backend.persistence.schema import NAMES_LIMIT
from manhattan.server.service import StoreQueries

HERO = "Hero Headline"
DAY, QUIET_DAY = "2026-11-28", "2026-11-29"


def counts() -> dict[CounterKey, list[float]]:
    """As the server counts: every count at site 1 or 2 has a twin for all
    sites, and in rollup all. Nobody purchased on the quiet day; "Signed Up"
    was reached at site 2 only, outside the Hero test; "Old Test" ran at
    site 2 only."""
    rows: dict[CounterKey, list[float]] = {}

    def add(rollup: str, bucket: str, site: int, goal: str, test: str, population: str) -> None:
        for where in (site, ALL_SITES):
            rows[CounterKey(rollup, bucket, where, goal, test, population)] = [2, 4.0, 8.0]

    for rollup, bucket in (("all", "0"), ("day", DAY)):
        add(rollup, bucket, 1, "viewed page", "", "")
        add(rollup, bucket, 1, "Purchased", "", "")
        for population in ("Bold", "Plain"):
            add(rollup, bucket, 1, "", HERO, population)
            add(rollup, bucket, 1, "viewed page", HERO, population)
        add(rollup, bucket, 1, "Purchased", HERO, "Bold")
    add("day", QUIET_DAY, 1, "viewed page", "", "")
    add("all", "0", 2, "viewed page", "", "")
    add("all", "0", 2, "Signed Up", "", "")
    add("all", "0", 2, "", "Old Test", "X")
    return rows


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> Iterator[SQLStore]:
    with SQLStore(url) as store:
        store.commit(
            Batch(
                counts=counts(),
                goals={
                    "Purchased": GoalInfo("S", "C", 1.0, 2.0),
                    "Signed Up": GoalInfo("", "", 1.0, 2.0),
                },
                tests={HERO: TestInfo(1.0, 2.0), "Old Test": TestInfo(1.0, 2.0)},
                filtered={"crawler": 4},
            )
        )
        yield store


def call(store: SQLStore, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # analyze() is the server's, from the store's test_stats().
    target = StoreQueries(store) if method == "analyze" else store
    return getattr(target, method)(*args, **kwargs)


MEAN = "did you mean"


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    [
        pytest.param(
            "count",
            ("Purchsed",),
            {},
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?)",
            id="goal",
        ),
        pytest.param(
            "count",
            ("Zzz",),
            {},
            "no goal named 'Zzz' (goals() lists the known goals)",
            id="goal?",
        ),
        pytest.param(
            "count",
            (None, ("Hero Headlin", "Bold")),
            {},
            f"no test named 'Hero Headlin' ({MEAN} 'Hero Headline'?)",
            id="test",
        ),
        pytest.param(
            "count",
            (None, ("Zzz", "Bold")),
            {},
            "no test named 'Zzz' (tests() lists the known tests)",
            id="test?",
        ),
        pytest.param(
            "count",
            ("Purchased", (HERO, "Bolt")),
            {},
            f"test 'Hero Headline' has no population 'Bolt' ({MEAN} 'Bold'?)",
            id="population",
        ),
        pytest.param(
            "count",
            (None, (HERO, "Zzz")),
            {},
            "test 'Hero Headline' has no population 'Zzz' (its populations: 'Bold', 'Plain')",
            id="population?",
        ),
        pytest.param(
            "count",
            ("Purchased",),
            {"rollup_key": "dya"},
            f"no rollup named 'dya' ({MEAN} 'day'?)",
            id="rollup",
        ),
        pytest.param(
            "count",
            ("Purchased",),
            {"rollup_key": "zzz"},
            "no rollup named 'zzz' (known rollups: 'all', 'day')",
            id="rollup?",
        ),
        pytest.param(
            "count",
            ("Purchased",),
            {"rollup_key": "day"},
            "rollup 'day' has no bucket '0' (nothing was counted there; "
            "known buckets include '2026-11-28', '2026-11-29')",
            id="bucket: the default 0",
        ),
        pytest.param(
            "count",
            ("Purchased",),
            {"rollup_key": "day", "bucket_id": "2026-11-30"},
            "rollup 'day' has no bucket '2026-11-30' (nothing was counted there; "
            f"{MEAN} '2026-11-29' or '2026-11-28'?)",
            id="bucket",
        ),
        pytest.param(
            "count", ("Purchased",), {"site_id": 99}, "no site 99 (known sites: 1, 2)", id="site"
        ),
        pytest.param(
            "count",
            ("Purchsed", ("Hero Headlin", "Bold"), "dya", 0, 99),
            {},
            f"no test named 'Hero Headlin' ({MEAN} 'Hero Headline'?); "
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?); "
            f"no rollup named 'dya' ({MEAN} 'day'?); no site 99 (known sites: 1, 2)",
            id="all at once",
        ),
        pytest.param(
            "goal_value",
            ("Purchsed",),
            {},
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?)",
            id="goal_value goal",
        ),
        pytest.param(
            "goal_value",
            ("Purchased", (HERO, "Bolt")),
            {},
            f"test 'Hero Headline' has no population 'Bolt' ({MEAN} 'Bold'?)",
            id="goal_value population",
        ),
        pytest.param(
            "results",
            ("Hero Headlin", ["Purchased"]),
            {},
            f"no test named 'Hero Headlin' ({MEAN} 'Hero Headline'?)",
            id="results test",
        ),
        pytest.param(
            "results",
            (HERO, ["Purchased", "Purchsed"]),
            {},
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?)",
            id="results goal",
        ),
        pytest.param(
            "results",
            (HERO, ["Purchased"]),
            {"site_id": 99},
            "no site 99 (known sites: 1, 2)",
            id="results site",
        ),
        pytest.param(
            "analyze",
            ("Hero Headlin",),
            {},
            f"no test named 'Hero Headlin' ({MEAN} 'Hero Headline'?)",
            id="analyze test",
        ),
        pytest.param(
            "analyze",
            (HERO, ["Purchsed"]),
            {},
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?)",
            id="analyze goal",
        ),
        pytest.param(
            "analyze",
            (HERO,),
            {"rollup_key": "dya"},
            f"no rollup named 'dya' ({MEAN} 'day'?)",
            id="analyze rollup",
        ),
        pytest.param(
            "test_stats",
            (HERO, "day", "2026-11-30"),
            {},
            "rollup 'day' has no bucket '2026-11-30'",
            id="test_stats bucket",
        ),
        pytest.param(
            "breakdown",
            ("dya", ["Purchased"]),
            {},
            f"no rollup named 'dya' ({MEAN} 'day'?)",
            id="breakdown rollup",
        ),
        pytest.param(
            "breakdown",
            ("day", ["viewed page", "Purchsed"]),
            {},
            f"no goal named 'Purchsed' ({MEAN} 'Purchased'?)",
            id="breakdown goal",
        ),
        pytest.param(
            "breakdown",
            ("day", ["Purchased"], "Hero Headlin"),
            {},
            f"no test named 'Hero Headlin' ({MEAN} 'Hero Headline'?)",
            id="breakdown test",
        ),
        pytest.param(
            "breakdown",
            ("day", ["Purchased"]),
            {"site_id": 99},
            "no site 99 (known sites: 1, 2)",
            id="breakdown site",
        ),
    ],
)
def test_names_never_seen_are_refused_with_the_closest_known(
    store: SQLStore, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(QueryError) as refused:
        call(store, method, args, kwargs)
    if method == "test_stats":
        assert str(refused.value).startswith(message)
    else:
        assert str(refused.value) == message


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "expected"),
    [
        pytest.param(
            "count",
            ("Purchased",),
            {"rollup_key": "day", "bucket_id": QUIET_DAY},
            0,
            id="a known goal in a bucket where nobody reached it",
        ),
        pytest.param("count", ("Signed Up",), {"site_id": 1}, 0, id="a known goal, another site"),
        pytest.param(
            "count", ("Signed Up", (HERO, "Plain")), {}, 0, id="a known goal, not in this test"
        ),
        pytest.param(
            "count",
            ("viewed page", ("Old Test", "X")),
            {"site_id": 1},
            0,
            id="a known test in a site where it did not run",
        ),
        pytest.param(
            "count",
            ("viewed page",),
            {"rollup_key": "day", "bucket_id": QUIET_DAY, "site_id": 2},
            0,
            id="a known site and bucket, nothing counted together",
        ),
        pytest.param("goal_value", ("Signed Up",), {"site_id": 1}, 0, id="goal_value"),
        pytest.param(
            "goal_value", ("Purchased", (HERO, "Plain")), {}, 0.0, id="goal_value population"
        ),
        pytest.param("results", ("Old Test", ["Purchased"]), {"site_id": 1}, {}, id="results"),
        pytest.param(
            "results",
            (HERO, ["Purchased", "Signed Up"]),
            {},
            {"Bold": [4.0, 0], "Plain": [0.0, 0]},
            id="results of a goal nobody in the test reached",
        ),
        pytest.param("breakdown", ("day", ["Signed Up"]), {}, {}, id="breakdown"),
        pytest.param(
            "breakdown", ("day", ["Purchased"], "Old Test"), {}, {}, id="breakdown of a test"
        ),
    ],
)
def test_known_names_without_counts_stay_zero(
    store: SQLStore, method: str, args: tuple[Any, ...], kwargs: dict[str, Any], expected: Any
) -> None:
    assert call(store, method, args, kwargs) == expected


def test_analysis_of_a_known_goal_nobody_in_the_test_reached(store: SQLStore) -> None:
    result = StoreQueries(store).analyze(HERO, ["Signed Up"])
    assert result["goals"]["Signed Up"]["populations"]["Bold"]["conversions"] == 0
    assert store.test_stats("Old Test", site_id=1).visitors == {}


def test_a_store_that_counted_nothing_answers_zeros(url: str) -> None:
    # A server that just started, its first visitors not past the pixel yet.
    with SQLStore(url) as store:
        store.commit(Batch(filtered={"awaiting pixel": 7}))
        assert store.count("Purchsed", ("Hero Headlin", "Bold"), "dya", 0, 99) == 0
        assert store.goal_value("Purchsed", site_id=99) == 0
        assert store.results("Hero Headlin", ["Purchsed"]) == {}
        assert store.breakdown("dya", ["Purchsed"], "Hero Headlin", 99) == {}
        assert store.test_stats("Hero Headlin").visitors == {}
        assert store.filtered() == {"awaiting pixel": 7}


def test_refusals_tell_of_events_awaiting_the_pixel(store: SQLStore) -> None:
    store.commit(Batch(filtered={"awaiting pixel": 7}))
    with pytest.raises(QueryError) as refused:
        store.count("Purchsed")
    assert str(refused.value) == (
        f"no goal named 'Purchsed' ({MEAN} 'Purchased'?); 7 events of visitors whose "
        "browser has not loaded the tracking pixel yet are not counted (see filtered())"
    )


def test_filtered_counts_events_by_reason(store: SQLStore) -> None:
    store.commit(Batch(filtered={"crawler": 1, "malformed record": 2}))
    assert store.filtered() == {"crawler": 5, "malformed record": 2}


class Spy:
    """A DB-API cursor that notes each statement it executes."""

    def __init__(self, cursor: Any, executed: list[str]) -> None:
        self._cursor = cursor
        self._executed = executed

    def execute(self, sql: str, args: Any = ()) -> Any:
        self._executed.append(sql)
        return self._cursor.execute(sql, args)

    def fetchall(self) -> Any:
        return self._cursor.fetchall()


@pytest.fixture
def statements(store: SQLStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The statements the store's queries execute from now on."""
    executed: list[str] = []
    original = store._cursor

    @contextmanager
    def spied(snapshot: bool = False) -> Iterator[Spy]:
        with original(snapshot) as cursor:
            yield Spy(cursor, executed)

    monkeypatch.setattr(store, "_cursor", spied)
    return executed


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "reads"),
    [
        pytest.param("count", ("Purchased",), {}, 1, id="count"),
        pytest.param(
            "count",
            (None, (HERO, "Bold")),
            {"rollup_key": "day", "bucket_id": DAY},
            1,
            id="count day",
        ),
        pytest.param("goal_value", ("Purchased", (HERO, "Bold")), {}, 2, id="goal_value"),
        pytest.param("results", (HERO, ["Purchased", "viewed page"]), {}, 2, id="results"),
        pytest.param("test_stats", (HERO,), {}, 4, id="test_stats"),
        pytest.param("analyze", (HERO, ["Purchased"]), {}, 4, id="analyze"),
        pytest.param("breakdown", ("day", ["Purchased"], HERO), {}, 1, id="breakdown"),
    ],
)
def test_answers_with_data_cost_no_extra_statement(
    store: SQLStore,
    statements: list[str],
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    reads: int,
) -> None:
    assert call(store, method, args, kwargs)
    assert len(statements) == reads


def test_only_empty_answers_look_names_up(store: SQLStore, statements: list[str]) -> None:
    assert store.count("Purchased", rollup_key="day", bucket_id=QUIET_DAY) == 0
    # The count, then one look-up of the rollup, bucket, site and test, and
    # one of the goals: all known, so nothing more.
    assert len(statements) == 3


def test_suggestions_come_from_a_bounded_read(url: str) -> None:
    with SQLStore(url) as store:
        rows = {
            CounterKey("n", f"{i:04}", ALL_SITES, "g", "", ""): [1, 0.0, 0.0]
            for i in range(NAMES_LIMIT + 5)
        }
        rows[CounterKey("all", "0", ALL_SITES, "g", "", "")] = [1, 0.0, 0.0]
        store.commit(Batch(counts=rows))
        with pytest.raises(QueryError) as refused:
            store.count("g", rollup_key="n", bucket_id="x")
        buckets = ", ".join(f"'{i:04}'" for i in range(10))
        assert str(refused.value) == (
            "rollup 'n' has no bucket 'x' (nothing was counted there; known buckets "
            f"include {buckets} and {NAMES_LIMIT - 10} more)"
        )


@pytest.mark.parametrize(
    ("kind", "name", "candidates", "message"),
    [
        pytest.param(
            "population",
            "Z",
            [],
            "test 'T' has no population 'Z' (see tests())",
            id="a test without impressions",
        ),
        pytest.param("site", "3", [], "no site 3 (known sites: none)", id="no sites"),
        pytest.param(
            "goal",
            "Buy",
            ["Buyersx", "Buyers", "Buyer", "Buys"],
            "no goal named 'Buy' (did you mean 'Buys', 'Buyer' or 'Buyers'?)",
            id="three at most",
        ),
    ],
)
def test_unknown_message(kind: str, name: str, candidates: list[str], message: str) -> None:
    assert unknown_message(kind, name, candidates, Names(test="T")) == message


def test_unknown_names_checks_a_bucket_in_a_known_rollup_and_a_population_in_a_known_test() -> (
    None
):
    names = Names("day", "x", 3, "T", "A", ("viewed page", "g", "g"))
    assert unknown_names(names, [1, 0, 0, 0, 0, 0], set()) == [
        ("test", "T"),
        ("goal", "g"),
        ("rollup", "day"),
        ("site", "3"),
    ]
    assert unknown_names(names, [1, 1, 0, 1, 1, 0], {"g"}) == [
        ("population", "A"),
        ("bucket", "x"),
    ]
    assert unknown_names(names, [0, 0, 0, 0, 0, 0], set()) == []


@pytest.mark.parametrize(
    ("method", "args", "message"),
    [
        pytest.param("count", ("",), "goal must not be empty", id="empty goal"),
        pytest.param("count", (None, ("", "A")), "test name must not be empty", id="empty test"),
        pytest.param("results", ("", ["g"]), "test_name must not be empty", id="results test"),
    ],
)
def test_empty_names_are_bad_arguments(
    store: SQLStore, method: str, args: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        call(store, method, args, {})
