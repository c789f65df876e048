"""SQLStore on SQLite files and on PostgreSQL: commits, merges, queries, errors.

Every expected figure below is worked out by hand from the batches
committed in the same test (values are multiples of 1/4 so that float sums
are exact).
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy.engine import Connection

from manhattan.backend.model import (
    ALL_SITES,
    Batch,
    CounterKey,
    GoalInfo,
    Queries,
    QueryError,
    StatsReader,
    Store,
    TestInfo,
)
from manhattan.backend.persistence import (
    SCHEMA_VERSION,
    VISITOR_CHUNK,
    SQLStore,
    StoreError,
    schema,
)
from manhattan.backend.persistence.engine import cause
from manhattan.server.service import StoreQueries


def key(goal, test="", population="", rollup="all", bucket="0", site=ALL_SITES):
    return CounterKey(rollup, bucket, site, goal, test, population)


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'manhattan.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(url) -> Iterator[SQLStore]:
    with SQLStore(url) as store:
        yield store


@pytest.fixture
def memory_store() -> Iterator[SQLStore]:
    with SQLStore("sqlite://") as store:
        yield store


def table_rows(url, table):
    """Every row of ``table``, read with a connection of the test's own."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.select(table))]
    finally:
        engine.dispose()


def execute(url, sql):
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def stored_counts(url):
    return {CounterKey(*row[:6]): tuple(row[6:]) for row in table_rows(url, schema.counts)}


@pytest.fixture
def inserts(monkeypatch) -> list[str]:
    """The INSERT statements the store executes (one per executemany)."""
    executed: list[str] = []
    original = Connection.exec_driver_sql

    def spy(self, statement, *args, **kwargs):
        if statement.startswith("INSERT"):
            executed.append(statement)
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "exec_driver_sql", spy)
    return executed


def test_store_implements_the_store_and_with_the_server_the_queries(memory_store):
    assert isinstance(memory_store, Store)
    assert isinstance(memory_store, StatsReader)
    assert isinstance(StoreQueries(memory_store), Queries)


def test_fresh_store_is_empty(store):
    assert store.load_pointer() is None
    assert store.load_visitors(["a", "b"]) == {}
    assert store.count("viewed page") == 0
    assert store.count(variant=("t", "A")) == 0
    assert store.goal_value("order") == 0
    assert store.all_tests() == []
    assert store.goals() == []
    assert store.tests() == []
    assert store.filtered() == {}
    assert store.results("t", ["order"]) == {}


def test_counts_add_up_over_batches(store, url):
    store.commit(
        Batch(
            counts={
                key("buy"): [3, 30.0, 350.0],
                key("buy", site=1): [2, 20.0, 200.0],
                key("buy", rollup="day", bucket="2024-03-01"): [3, 30.0, 350.0],
            }
        )
    )
    store.commit(
        Batch(
            counts={
                key("buy"): [1, 5.5, 30.25],
                key("buy", site=2): [1, 5.5, 30.25],
            }
        )
    )
    assert stored_counts(url) == {
        key("buy"): (4, 35.5, 380.25),
        key("buy", site=1): (2, 20.0, 200.0),
        key("buy", site=2): (1, 5.5, 30.25),
        key("buy", rollup="day", bucket="2024-03-01"): (3, 30.0, 350.0),
    }
    assert store.count("buy") == 4
    assert store.count("buy", site_id=1) == 2
    assert store.count("buy", site_id=2) == 1
    assert store.count("buy", rollup_key="day", bucket_id="2024-03-01") == 3
    # Never counted there: no such site, bucket or rollup (not a silent 0).
    with pytest.raises(QueryError, match=r"no site 3 \(known sites: 1, 2\)"):
        store.count("buy", site_id=3)
    with pytest.raises(QueryError, match="rollup 'day' has no bucket '2024-03-02'"):
        store.count("buy", rollup_key="day", bucket_id="2024-03-02")
    with pytest.raises(QueryError, match="no rollup named 'week'"):
        store.count("buy", rollup_key="week")


def test_negative_deltas_take_visitors_back(store, url):
    cart = key("abandoned cart")
    store.commit(Batch(counts={cart: [2, 0.0, 0.0]}))
    store.commit(Batch(counts={cart: [-1, 0.0, 0.0]}))
    assert store.count("abandoned cart") == 1
    store.commit(Batch(counts={cart: [-1, -2.5, -6.25]}))
    assert store.count("abandoned cart") == 0
    assert stored_counts(url) == {cart: (0, -2.5, -6.25)}


def test_random_batches_add_up_to_their_sums(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    rng = random.Random(3)
    keys = [
        key(goal, test, population, rollup, bucket, site)
        for goal in ("", "viewed page", "buy")
        for test, population in (("", ""), ("t", "A"), ("t", "B"))
        for rollup, bucket in (("all", "0"), ("day", "2024-03-01"))
        for site in (ALL_SITES, 1)
        if goal or test  # impressions are of test populations only
    ]
    expected: dict[CounterKey, list[float]] = {}
    with SQLStore(url) as store:
        for _ in range(6):
            batch = Batch()
            for k in rng.sample(keys, 30):
                delta = [rng.randint(-3, 9), rng.randint(0, 40) / 4, rng.randint(0, 400) / 4]
                batch.counts[k] = delta
                total = expected.setdefault(k, [0, 0.0, 0.0])
                for i in range(3):
                    total[i] += delta[i]
            store.commit(batch)
        assert stored_counts(url) == {k: tuple(v) for k, v in expected.items()}
        for k, (visitors, _, _) in expected.items():
            site = None if k.site == ALL_SITES else k.site
            variant = (k.test, k.population) if k.test else None
            assert store.count(k.goal or None, variant, k.rollup, k.bucket, site) == visitors


def test_one_insert_per_table_however_many_rows(store, inserts):
    batch = Batch(
        counts={key(f"goal {i}", site=i % 7): [1, 1.0, 1.0] for i in range(1000)},
        visitors={f"{i:040x}": f"state {i}" for i in range(1000)},
    )
    store.commit(batch)
    assert [statement.split()[2] for statement in inserts] == ["counts", "visitors"]
    assert store.count("goal 999", site_id=999 % 7) == 1


def test_variants_impressions_and_populations(store):
    store.commit(
        Batch(
            counts={
                key("", "t", "A"): [6, 0.0, 0.0],
                key("", "t", "True"): [2, 0.0, 0.0],
                key("", "u", "2"): [1, 0.0, 0.0],
                key("buy", "t", "A"): [3, 30.0, 300.0],
                key("buy"): [5, 50.0, 500.0],
                key("buy", rollup="day", bucket="20240301"): [1, 10.0, 100.0],
            }
        )
    )
    assert store.count(variant=("t", "A")) == 6
    assert store.count(None, ["t", "A"]) == 6
    assert store.count("buy", ("t", "A")) == 3
    assert store.count("buy") == 5
    assert store.count("buy", ("t", "True")) == 0  # a known population that bought nothing
    with pytest.raises(QueryError, match="test 't' has no population 'B'"):
        store.count("buy", ("t", "B"))
    with pytest.raises(QueryError, match="no test named 'other'"):
        store.count("buy", ("other", "A"))
    # Populations as split() returned them were recorded as str(population).
    assert store.count(variant=("t", True)) == 2
    with pytest.raises(QueryError, match="test 't' has no population 'False'"):
        store.count(variant=("t", False))
    assert store.count(variant=("u", 2)) == 1
    # Buckets compare as str(bucket_id); the default 0 is the "all" bucket "0".
    assert store.count("buy", rollup_key="day", bucket_id=20240301) == 1


GOALS = {
    "order": GoalInfo("S", "C", 1.0, 2.0),
    "basket": GoalInfo("A", "N", 1.0, 2.0),
    "time": GoalInfo("I", "N", 1.0, 2.0),
    "signup": GoalInfo("R", "P", 1.0, 2.0),
    "plain": GoalInfo("", "", 1.0, 2.0),
}


@pytest.fixture
def valued(store) -> SQLStore:
    """Goals of every value type, counted at all sites, in population t/A
    and at site 7 (where nobody viewed a page)."""
    store.commit(
        Batch(
            goals=GOALS,
            counts={
                key("viewed page"): [10, 0.0, 0.0],
                key("order"): [4, 100.0, 3000.0],
                key("basket"): [4, 50.0, 700.0],
                key("time"): [5, 30.0, 200.0],
                key("signup"): [2, 7.0, 25.0],
                key("plain"): [3, 9.0, 27.0],
                key("viewed page", "t", "A"): [4, 0.0, 0.0],
                key("order", "t", "A"): [1, 25.0, 625.0],
                key("basket", "t", "A"): [2, 5.0, 12.5],
                key("time", "t", "A"): [2, 6.0, 18.0],
                key("signup", "t", "A"): [1, 0.0, 0.0],
                key("time", site=7): [1, 5.0, 25.0],
                key("signup", site=7): [1, 0.0, 0.0],
            },
        )
    )
    return store


@pytest.mark.parametrize(
    ("goal", "variant", "site_id", "expected"),
    [
        pytest.param("order", None, None, 100.0, id="sum"),
        pytest.param("basket", None, None, 12.5, id="average: 50/4"),
        pytest.param("time", None, None, 3.0, id="per page view: 30/10"),
        pytest.param("signup", None, None, 0.2, id="rate: 2/10"),
        pytest.param("order", ("t", "A"), None, 25.0, id="variant sum"),
        pytest.param("basket", ("t", "A"), None, 2.5, id="variant average: 5/2"),
        pytest.param("time", ("t", "A"), None, 1.5, id="variant per page view: 6/4"),
        pytest.param("signup", ("t", "A"), None, 0.25, id="variant rate: 1/4"),
        pytest.param("order", None, 7, 0.0, id="sum of nothing"),
        pytest.param("basket", None, 7, 0.0, id="average of no visitor"),
        pytest.param("time", None, 7, 0.0, id="per no page view"),
        pytest.param("signup", None, 7, 0.0, id="rate of no page view"),
    ],
)
def test_goal_value_by_value_type(valued, goal, variant, site_id, expected):
    value = valued.goal_value(goal, variant, site_id=site_id)
    assert type(value) is float
    assert value == expected


@pytest.mark.parametrize(
    ("goal", "site_id", "expected"),
    [
        pytest.param("plain", None, 3, id="no value type: the count"),
        pytest.param("plain", 7, 0, id="no value type, nothing counted"),
    ],
)
def test_goal_value_without_value_type_is_the_count(valued, goal, site_id, expected):
    value = valued.goal_value(goal, site_id=site_id)
    assert type(value) is int
    assert value == expected


RESULT_GOALS = ["order", "signup", "plain", "basket"]  # nobody in t reached "basket"


@pytest.fixture
def tested(store) -> SQLStore:
    """Test t: populations A and B with impressions, C with none; A at site 1."""
    store.commit(
        Batch(
            goals=GOALS,
            counts={
                key("", "t", "A"): [6, 0.0, 0.0],
                key("", "t", "B"): [4, 0.0, 0.0],
                key("", "t", "C"): [0, 0.0, 0.0],
                key("viewed page", "t", "A"): [5, 0.0, 0.0],
                key("order", "t", "A"): [2, 40.0, 800.0],
                key("signup", "t", "A"): [1, 0.0, 0.0],
                key("plain", "t", "A"): [3, 3.0, 3.0],
                key("viewed page", "t", "B"): [4, 0.0, 0.0],
                key("order", "t", "B"): [1, 15.0, 225.0],
                key("signup", "t", "B"): [2, 0.0, 0.0],
                key("", "t", "A", site=1): [2, 0.0, 0.0],
                key("viewed page", "t", "A", site=1): [2, 0.0, 0.0],
                key("order", "t", "A", site=1): [1, 10.0, 100.0],
                # Other rollups play no part in results().
                key("order", "t", "A", rollup="day", bucket="2024-03-01"): [9, 900.0, 0.0],
                key("", "t", "D", rollup="day", bucket="2024-03-01"): [9, 0.0, 0.0],
            },
        )
    )
    return store


def test_results_of_each_population_with_impressions(tested):
    # order: SUM; signup: RATE (signups / page views); plain: the count.
    assert tested.results("t", RESULT_GOALS) == {
        "A": [40.0, 1 / 5, 3, 0],
        "B": [15.0, 2 / 4, 0, 0],
    }


def test_results_agree_with_goal_value(tested):
    results = tested.results("t", RESULT_GOALS)
    for population, values in results.items():
        assert values == [tested.goal_value(g, ("t", population)) for g in RESULT_GOALS]


def test_results_of_one_site(tested):
    assert tested.results("t", RESULT_GOALS, site_id=1) == {"A": [10.0, 0.0, 0, 0]}
    with pytest.raises(QueryError, match="no site 2"):
        tested.results("t", RESULT_GOALS, site_id=2)


@pytest.mark.parametrize(
    ("test_name", "goals", "expected"),
    [
        pytest.param("t", [], {"A": [], "B": []}, id="no goals"),
        pytest.param("t", ("order", "order"), {"A": [40.0, 40.0], "B": [15.0, 15.0]}, id="twice"),
    ],
)
def test_results_edge_cases(tested, test_name, goals, expected):
    assert tested.results(test_name, goals) == expected


def test_goals_merge(store):
    store.commit(Batch(goals={"order": GoalInfo("S", "C", 100.0, 200.0)}))
    store.commit(
        Batch(
            goals={
                "order": GoalInfo("", "", 50.0, 150.0),
                "basket": GoalInfo("", "", 70.0, 80.0),
            }
        )
    )
    assert store.goals() == [
        {"name": "basket", "value_type": "", "value_format": "", "first": 70.0, "last": 80.0},
        {"name": "order", "value_type": "S", "value_format": "C", "first": 50.0, "last": 200.0},
    ]
    store.commit(Batch(goals={"order": GoalInfo("A", "", 300.0, 400.0)}))
    assert store.goals()[1] == {
        "name": "order",
        "value_type": "A",
        "value_format": "C",
        "first": 50.0,
        "last": 400.0,
    }


def test_tests_merge(store):
    store.commit(Batch(tests={"t": TestInfo(10.0, 20.0, 1, {"A": 1.0, "B": 3.0})}))
    store.commit(Batch(tests={"t": TestInfo(5.0, 15.0, 2, {})}))
    assert store.tests() == [
        {
            "name": "t",
            "first": 5.0,
            "last": 20.0,
            "populations": [],
            "crossovers": 3,
            "weights": {"A": 1.0, "B": 3.0},
        }
    ]
    store.commit(Batch(tests={"t": TestInfo(12.0, 30.0, 0, {"A": 0.5, "B": 0.5})}))
    assert store.all_tests() == [("t", 5.0, 30.0)]
    [test] = store.tests()
    assert (test["crossovers"], test["weights"]) == (3, {"A": 0.5, "B": 0.5})


def test_tests_newest_first_with_their_populations(store):
    store.commit(
        Batch(
            tests={
                "old": TestInfo(100.0, 150.0, 0, {}),
                "new": TestInfo(300.0, 350.0, 1, {"A": 1.0, "B": 3.0}),
                "another": TestInfo(300.0, 310.0, 0, {}),
            },
            counts={
                key("", "new", "B"): [3, 0.0, 0.0],
                key("", "new", "A"): [1, 0.0, 0.0],
                key("", "new", "Z"): [0, 0.0, 0.0],
                key("", "old", "True", site=1): [1, 0.0, 0.0],
                key("", "old", "True"): [1, 0.0, 0.0],
                key("", "old", "False", rollup="day", bucket="2024-03-01"): [1, 0.0, 0.0],
            },
        )
    )
    assert store.all_tests() == [
        ("another", 300.0, 310.0),
        ("new", 300.0, 350.0),
        ("old", 100.0, 150.0),
    ]
    assert store.tests() == [
        {
            "name": "another",
            "first": 300.0,
            "last": 310.0,
            "populations": [],
            "crossovers": 0,
            "weights": {},
        },
        {
            "name": "new",
            "first": 300.0,
            "last": 350.0,
            "populations": ["A", "B"],
            "crossovers": 1,
            "weights": {"A": 1.0, "B": 3.0},
        },
        {
            "name": "old",
            "first": 100.0,
            "last": 150.0,
            "populations": ["True"],
            "crossovers": 0,
            "weights": {},
        },
    ]


def test_filtered_events_add_up(store):
    store.commit(Batch(filtered={"no pixel": 3, "crawler": 2}))
    store.commit(Batch(filtered={"no pixel": 4}))
    assert store.filtered() == {"no pixel": 7, "crawler": 2}


def test_pointer_round_trip(store):
    store.commit(Batch(pointer="events.1400000400:120"))
    assert store.load_pointer() == "events.1400000400:120"
    store.commit(Batch(counts={key("buy"): [1, 0.0, 0.0]}))
    assert store.load_pointer() == "events.1400000400:120"
    store.commit(Batch(pointer="events.1400003600:0"))
    assert store.load_pointer() == "events.1400003600:0"


def test_named_pointers_are_kept_apart_and_beside_the_pointer(store, url):
    assert store.load_pointers(["stream:s:0", "stream:s:1"]) == {}
    store.commit(Batch(pointers={"stream:s:0": "5-0", "stream:s:1": "7-1"}))
    store.commit(Batch(counts={key("buy"): [1, 0.0, 0.0]}, pointers={"stream:s:1": "9-0"}))
    assert store.load_pointers(["stream:s:0", "stream:s:1", "stream:s:2"]) == {
        "stream:s:0": "5-0",
        "stream:s:1": "9-0",
    }
    assert store.load_pointer() is None  # the file log's pointer is another row
    store.commit(Batch(pointer="events.1:10", pointers={"stream:s:2": "1-0"}))
    assert store.load_pointer() == "events.1:10"
    assert store.load_pointers(["stream:s:2"]) == {"stream:s:2": "1-0"}
    assert stored_counts(url) == {key("buy"): (1, 0.0, 0.0)}


def test_a_batch_of_only_pointers_is_not_empty():
    assert Batch(pointers={"stream:s:0": "1-0"})
    assert not Batch()


def test_visitor_states_round_trip_in_chunks(store, monkeypatch):
    ids = [f"{i:040x}" for i in range(1234)]
    states = {vid: f"state {i}" for i, vid in enumerate(ids)}
    store.commit(Batch(visitors=states))
    listed: list[int] = []
    query_in = store._query_in

    def spy(cursor, build, values, params=None):
        listed.append(len(values))
        return query_in(cursor, build, values, params or {})

    monkeypatch.setattr(store, "_query_in", spy)
    assert store.load_visitors([*ids, "unknown 1", "unknown 2"]) == states
    assert listed == [VISITOR_CHUNK, VISITOR_CHUNK, 1236 - 2 * VISITOR_CHUNK]
    assert store.load_visitors([]) == {}

    store.commit(Batch(visitors={ids[0]: "new", ids[-1]: "newer"}))
    assert store.load_visitors((ids[0], ids[5], ids[-1])) == {
        ids[0]: "new",
        ids[5]: "state 5",
        ids[-1]: "newer",
    }


def test_empty_batch_touches_nothing(store, monkeypatch):
    def fail():
        raise AssertionError("an empty batch opened a transaction")

    monkeypatch.setattr(store, "_write", fail)
    store.commit(Batch())
    assert store.load_pointer() is None


FIRST = Batch(
    counts={key("buy"): [2, 4.0, 8.0]},
    goals={"buy": GoalInfo("S", "", 1.0, 2.0)},
    visitors={"v0": "first"},
    pointer="events.1:10",
)


def assert_first_batch_only(store):
    assert store.count("buy") == 2
    assert store.goal_value("buy") == 4.0
    assert store.goals()[0]["last"] == 2.0
    assert store.load_visitors(["v0", "v1"]) == {"v0": "first"}
    assert store.load_pointer() == "events.1:10"


def test_a_constraint_violation_midway_applies_nothing(store):
    store.commit(FIRST)
    bad = Batch(
        counts={key("buy"): [1, 1.0, 1.0]},
        goals={"buy": GoalInfo("S", "", 1.0, 9.0)},
        visitors={"v1": "second", "v2": None},  # type: ignore[dict-item]
        pointer="events.1:20",
    )
    with pytest.raises(StoreError, match="commit failed on "):
        store.commit(bad)
    assert_first_batch_only(store)


def test_a_failure_midway_applies_nothing(store, monkeypatch):
    store.commit(FIRST)
    inserts: list[str] = []
    original = Connection.exec_driver_sql

    def fail_third(self, statement, *args, **kwargs):
        if statement.startswith("INSERT"):
            if len(inserts) == 2:
                raise RuntimeError("crash after counts and goals")
            inserts.append(statement)
        return original(self, statement, *args, **kwargs)

    monkeypatch.setattr(Connection, "exec_driver_sql", fail_third)
    with pytest.raises(RuntimeError, match="crash after counts and goals"):
        store.commit(
            Batch(
                counts={key("buy"): [1, 1.0, 1.0]},
                goals={"buy": GoalInfo("S", "", 1.0, 9.0)},
                visitors={"v1": "second"},
                pointer="events.1:20",
            )
        )
    assert [statement.split()[2] for statement in inserts] == ["counts", "goals"]
    assert_first_batch_only(store)


def in_thread(function):
    """Run ``function`` on another thread; its result."""
    results = []
    thread = threading.Thread(target=lambda: results.append(function()))
    thread.start()
    thread.join(timeout=20)
    assert not thread.is_alive()
    return results[0]


def test_queries_from_another_thread_see_committed_data_only(store, monkeypatch):
    store.commit(Batch(counts={key("buy"): [2, 0.0, 0.0]}))
    seen = []
    original = Connection.exec_driver_sql

    def query_midway(self, statement, *args, **kwargs):
        result = original(self, statement, *args, **kwargs)
        if statement.startswith("INSERT INTO counts"):
            seen.append(in_thread(lambda: store.count("buy")))
        return result

    monkeypatch.setattr(Connection, "exec_driver_sql", query_midway)
    store.commit(Batch(counts={key("buy"): [3, 0.0, 0.0]}, pointer="p"))
    assert seen == [2]
    assert in_thread(lambda: store.count("buy")) == 5


def test_results_read_one_snapshot(tested, monkeypatch):
    calls = []
    query_in = tested._query_in
    late = Batch(counts={key("", "t", "Z"): [1, 0.0, 0.0], key("order", "t", "A"): [1, 1.0, 1.0]})

    def commit_between(cursor, build, values, params=None):
        rows = query_in(cursor, build, values, params or {})
        if not calls:
            in_thread(lambda: tested.commit(late))
        calls.append(build)
        return rows

    monkeypatch.setattr(tested, "_query_in", commit_between)
    assert tested.results("t", ["order"]) == {"A": [40.0], "B": [15.0]}
    assert len(calls) == 2
    assert tested.results("t", ["order"]) == {"A": [41.0], "B": [15.0], "Z": [0.0]}


def test_memory_store_is_shared_by_threads(memory_store):
    in_thread(lambda: memory_store.commit(Batch(counts={key("buy"): [1, 0.0, 0.0]})))
    assert memory_store.count("buy") == 1
    assert in_thread(lambda: memory_store.count("buy")) == 1


def test_data_survive_reopening(url):
    with SQLStore(url) as store:
        store.commit(FIRST)
    with SQLStore(url) as store:
        assert_first_batch_only(store)
    assert dict(table_rows(url, schema.meta)) == {
        "schema_version": str(SCHEMA_VERSION),
        "pointer": "events.1:10",
    }


def test_sqlite_file_is_in_wal_mode(tmp_path):
    path = tmp_path / "m.db"
    SQLStore(f"sqlite:///{path}").close()
    assert path.read_bytes()[18:20] == b"\x02\x02"  # file format versions: 2 is WAL


def test_sqlite_uri_filename(tmp_path):
    path = tmp_path / "uri.db"
    with SQLStore(f"sqlite:///file:{path}?uri=true") as store:
        store.commit(Batch(pointer="p"))
    assert path.exists()


def test_another_schema_version_is_refused(url):
    SQLStore(url).close()
    execute(url, """UPDATE meta SET value = '2' WHERE "key" = 'schema_version'""")
    with pytest.raises(StoreError) as raised:
        SQLStore(url)
    assert str(raised.value) == (
        f"the database at {url} has schema version 2, "
        "but this version of Manhattan uses schema version 1"
    )


def test_errors_after_the_tables_went_away(store, url):
    store.commit(FIRST)
    execute(url, "DROP TABLE counts")
    with pytest.raises(StoreError, match="query failed on ") as raised:
        store.count("buy")
    assert "counts" in str(raised.value)
    with pytest.raises(StoreError, match="commit failed on "):
        store.commit(Batch(counts={key("buy"): [1, 0.0, 0.0]}))
    # The connection that failed was dropped; others still work.
    assert store.load_pointer() == "events.1:10"


@pytest.mark.parametrize(
    ("url", "parts"),
    [
        pytest.param("not a url", ["store at not a url: bad URL"], id="unparsable"),
        pytest.param(
            "postgresql://user:secret@host:port/db",
            ["user:***@host:port/db", "bad URL"],
            id="bad port, password hidden",
        ),
        pytest.param(
            "mysql://user:secret@127.0.0.1/db",
            ["mysql://user:***@127.0.0.1/db", "unsupported database 'mysql'"],
            id="unsupported",
        ),
        pytest.param(
            "postgresql+psycopg://postgres:secret@127.0.0.1:1/test",
            ["postgres:***@127.0.0.1:1/test", "port 1 failed"],
            id="unreachable postgresql",
        ),
        pytest.param(
            "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2",
            ["postgresql://postgres@127.0.0.1:1/test", "port 1 failed"],
            id="unreachable postgresql, default driver",
        ),
        pytest.param(
            "postgresql+psycopg2://postgres@127.0.0.1/test",
            ["No module named 'psycopg2'"],
            id="missing driver",
        ),
    ],
)
def test_store_error_names_url_and_cause(url, parts):
    with pytest.raises(StoreError) as raised:
        SQLStore(url)
    message = str(raised.value)
    assert message.startswith("cannot open the store at ")
    assert "secret" not in message
    assert "\n" not in message
    for part in parts:
        assert part in message


def test_store_error_for_a_missing_directory(tmp_path):
    url = f"sqlite:///{tmp_path}/missing/m.db"
    with pytest.raises(StoreError, match=re.escape(f"directory {tmp_path}/missing does not")):
        SQLStore(url)
    assert not (tmp_path / "missing").exists()


def test_store_error_for_a_file_that_is_no_database(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"These are not the tables you are looking for. " * 100)
    with pytest.raises(
        StoreError, match=re.escape(f"at sqlite:///{path}: file is not a database")
    ):
        SQLStore(f"sqlite:///{path}")


def test_store_error_for_a_directory(tmp_path):
    with pytest.raises(StoreError, match="unable to open database file"):
        SQLStore(f"sqlite:///{tmp_path}")


def test_cause_of_an_error_without_message():
    assert cause(RuntimeError()) == "RuntimeError"
    assert cause(ValueError("two\n  lines")) == "two lines"


@pytest.mark.parametrize(
    ("method", "args", "kwargs", "message"),
    [
        pytest.param("count", (), {}, "needs a goal, a variant", id="nothing"),
        pytest.param("count", (5,), {}, "goal must be a str or None, not int", id="goal int"),
        pytest.param("count", ("g", "tA"), {}, "variant must be a (test", id="variant str"),
        pytest.param("count", ("g", ("t",)), {}, "variant must be", id="variant of one"),
        pytest.param("count", ("g", ("t", "A", "B")), {}, "variant must be", id="of three"),
        pytest.param("count", ("g", 5), {}, "variant must be", id="variant int"),
        pytest.param("count", ("g", (1, "A")), {}, "test name must be a str", id="test int"),
        pytest.param("count", (None, ("t", None)), {}, "population must be", id="pop None"),
        pytest.param("count", ("g",), {"rollup_key": 1}, "rollup_key must be a str", id="rollup"),
        pytest.param("count", ("g",), {"site_id": "1"}, "site_id must be an int", id="site str"),
        pytest.param("count", ("g",), {"site_id": True}, "site_id must be an int", id="site bool"),
        pytest.param("goal_value", (None,), {}, "needs a goal name", id="goal_value None"),
        pytest.param("goal_value", (3,), {}, "goal must be a str", id="goal_value int"),
        pytest.param("results", (1, ["g"]), {}, "test_name must be a str", id="test_name int"),
        pytest.param("results", ("t", "goal"), {}, "goals must be a list", id="goals str"),
        pytest.param("results", ("t", None), {}, "goals must be a list", id="goals None"),
        pytest.param("results", ("t", ["g", 2]), {}, "goal names must be str", id="goal int"),
        pytest.param("results", ("t", ["g"], 1.5), {}, "site_id must be an int", id="site"),
    ],
)
def test_bad_query_arguments(memory_store, method, args, kwargs, message):
    with pytest.raises(QueryError) as raised:
        getattr(memory_store, method)(*args, **kwargs)
    assert message in str(raised.value)
