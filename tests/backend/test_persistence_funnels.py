"""The store's funnels on SQLite files and on PostgreSQL: the declarations
it keeps, and ``funnels()`` / ``funnel()`` over counts the aggregator made
(each expected figure follows from the stream in the same test, as worked
out in tests/backend/test_funnels.py's rules)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.funnels import Funnel, parse_funnel
from manhattan.backend.model import QueryError
from manhattan.backend.persistence import SQLStore, StoreError, schema
from manhattan.backend.persistence.funnelreads import FUNNELS_KEY
from manhattan.server.service import StoreQueries
from tests.backend.test_aggregate import DAY1, ROLLUPS, goal, pixel, split

CHECKOUT = parse_funnel("Checkout|Viewed>Cart>Paid", 3600.0)
SIGNUP = parse_funnel("Signup|Viewed>Signed Up")


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def store(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[SQLStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/manhattan.db"
    else:
        url = request.getfixturevalue("postgres_url")
    with SQLStore(url) as store:
        yield store


def count(store: SQLStore, funnels: list[Funnel], records: list[list[str]]) -> None:
    aggregator = Aggregator(ROLLUPS, funnels=funnels)
    aggregator.add_all(records)
    store.declare_funnels(funnels)
    store.commit(aggregator.drain("p"))


def visitor(vid: str, *steps: str, site: str = "0", test: str = "") -> list[list[str]]:
    """A human visitor, in ``test``'s population ``vid`` if given, who
    converts on ``steps`` one second apart."""
    records = [pixel(vid, site=site)]
    if test:
        records.append(split(vid, test, vid, site=site))
    return [*records, *(goal(vid, name, at=DAY1 + i, site=site) for i, name in enumerate(steps))]


@pytest.fixture
def counted(store: SQLStore) -> SQLStore:
    """a: every step at site 1 in population a of test T; b: two steps at
    site 2 in population b; c: Signed Up only."""
    count(
        store,
        [CHECKOUT, SIGNUP],
        [
            *visitor("a", "Viewed", "Cart", "Paid", "Signed Up", site="1", test="T"),
            *visitor("b", "Viewed", "Cart", site="2", test="T"),
            *visitor("c", "Signed Up"),
        ],
    )
    return store


def test_declared_funnels_are_listed_in_order(counted: SQLStore) -> None:
    assert counted.funnels() == [
        {"name": "Checkout", "steps": ["Viewed", "Cart", "Paid"], "within": 3600.0},
        {"name": "Signup", "steps": ["Viewed", "Signed Up"], "within": None},
    ]


def test_redeclaring_keeps_the_others(counted: SQLStore) -> None:
    counted.declare_funnels([parse_funnel("New|x>y"), parse_funnel("Checkout|Viewed>Paid")])
    assert [(f["name"], f["steps"]) for f in counted.funnels()] == [
        ("Checkout", ["Viewed", "Paid"]),
        ("Signup", ["Viewed", "Signed Up"]),
        ("New", ["x", "y"]),
    ]


@pytest.mark.parametrize(
    ("name", "where", "expected"),
    [
        pytest.param("Checkout", {}, [("Viewed", 2), ("Cart", 2), ("Paid", 1)], id="all"),
        pytest.param("Signup", {}, [("Viewed", 2), ("Signed Up", 1)], id="c-skipped-step-1"),
        pytest.param(
            "Checkout", {"site_id": 2}, [("Viewed", 1), ("Cart", 1), ("Paid", 0)], id="site"
        ),
        pytest.param(
            "Checkout",
            {"variant": ("T", "a")},
            [("Viewed", 1), ("Cart", 1), ("Paid", 1)],
            id="population",
        ),
        pytest.param(
            "Checkout",
            {"rollup_key": "day", "bucket_id": "2023-11-14"},
            [("Viewed", 2), ("Cart", 2), ("Paid", 1)],
            id="day",
        ),
        pytest.param(
            "Signup",
            {"variant": ["T", "b"]},
            [("Viewed", 1), ("Signed Up", 0)],
            id="population-as-list",
        ),
    ],
)
def test_funnel(
    counted: SQLStore, name: str, where: dict[str, object], expected: list[tuple[str, int]]
) -> None:
    assert counted.funnel(name, **where) == expected  # type: ignore[arg-type]


def test_each_step_is_an_ordinary_goal(counted: SQLStore) -> None:
    assert counted.count("Checkout: Paid") == 1
    assert counted.count("Checkout: Cart", ("T", "b")) == 1
    assert "Checkout: Cart" in {g["name"] for g in counted.goals()}
    analysis = StoreQueries(counted).analyze("T", goals=["Checkout: Paid"])
    paid = analysis["goals"]["Checkout: Paid"]["populations"]
    assert (paid["a"]["conversions"], paid["b"]["conversions"]) == (1, 0)


@pytest.mark.parametrize(
    ("args", "where", "message"),
    [
        pytest.param(
            ("Chekout",), {}, r"no funnel named 'Chekout' \(did you mean 'Checkout'", id="typo"
        ),
        pytest.param(("",), {}, "a funnel name must not be empty", id="empty"),
        pytest.param((3,), {}, "a funnel name must be a str, not int", id="not-text"),
        pytest.param(("Checkout",), {"variant": "T"}, "variant must be a", id="bad-variant"),
        pytest.param(
            ("Checkout",), {"site_id": 9}, r"no site 9 \(known sites: 0, 1, 2\)", id="site"
        ),
        pytest.param(("Checkout",), {"rollup_key": "dya"}, "no rollup named 'dya'", id="rollup"),
        pytest.param(
            ("Checkout",), {"variant": ("T", "z")}, "test 'T' has no population 'z'", id="pop"
        ),
        pytest.param(("Checkout",), {"variant": ("U", "a")}, "no test named 'U'", id="test"),
    ],
)
def test_bad_funnel_queries(
    counted: SQLStore, args: tuple[object, ...], where: dict[str, object], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        counted.funnel(*args, **where)  # type: ignore[arg-type]


def test_a_known_slice_nobody_reached_is_zeros(counted: SQLStore) -> None:
    # Site 2 is known, and nobody there reached Signup's steps.
    assert counted.funnel("Signup", site_id=2) == [("Viewed", 1), ("Signed Up", 0)]


def test_workers_declaring_together_lose_no_funnel(store: SQLStore) -> None:
    # Each worker's store reads, merges and writes the list: serialised,
    # every worker's funnel is listed whatever the interleaving.
    workers = 6
    stores = [SQLStore(store.url) for _ in range(workers)]
    ready = threading.Barrier(workers)
    errors: list[BaseException] = []

    def declare(number: int) -> None:
        ready.wait()
        try:
            stores[number].declare_funnels([parse_funnel(f"F{number}|a>b")])
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=declare, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in stores:
        other.close()

    assert errors == []
    assert sorted(f["name"] for f in store.funnels()) == [f"F{n}" for n in range(workers)]


def test_a_fresh_store_knows_no_funnel(store: SQLStore) -> None:
    assert store.funnels() == []
    with pytest.raises(QueryError, match="none is declared"):
        store.funnel("Checkout")


def test_declared_before_anything_is_counted_answers_zeros(store: SQLStore) -> None:
    store.declare_funnels([CHECKOUT])
    assert store.funnel("Checkout", site_id=5) == [("Viewed", 0), ("Cart", 0), ("Paid", 0)]


def damage(store: SQLStore) -> None:
    engine = sqlalchemy.create_engine(store._engine.url)  # the real URL, password and all
    try:
        with engine.begin() as conn:
            conn.execute(schema.meta.insert().values(key=FUNNELS_KEY, value="{damaged"))
    finally:
        engine.dispose()


def test_damaged_declarations(store: SQLStore) -> None:
    damage(store)
    with pytest.raises(StoreError, match="damaged funnel declarations in the store at"):
        store.funnels()
    with pytest.raises(StoreError, match="damaged funnel declarations"):
        store.funnel("Checkout")
    store.declare_funnels([SIGNUP])  # a counting server's declaration replaces them
    assert [f["name"] for f in store.funnels()] == ["Signup"]
