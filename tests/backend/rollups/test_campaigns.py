"""Tests of manhattan.backend.rollups.campaigns: the ``utm_*`` rollups."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import NO_VISIT, Rollup, Visit
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import build_rollups
from manhattan.backend.rollups.campaigns import (
    NO_CAMPAIGN,
    UtmCampaignRollup,
    UtmMediumRollup,
    UtmSourceRollup,
    UtmValues,
    utm_values,
)
from manhattan.records.limits import MAX_NAME_LENGTH
from manhattan.visitor.records import (
    format_timestamp,
    goal_record,
    page_record,
    pixel_record,
)

NONE = NO_CAMPAIGN
SHOP = "https://shop.example.com/p/1"
LONG = "x" * (MAX_NAME_LENGTH + 100)
GRIN = "\N{GRINNING FACE}"  # four bytes of UTF-8
EURO = "\N{EURO SIGN}"  # three bytes

UTM_CASES = [
    pytest.param(SHOP, (NONE, NONE, NONE), id="no-query"),
    pytest.param(f"{SHOP}?", (NONE, NONE, NONE), id="empty-query"),
    pytest.param(f"{SHOP}?id=3&sort=price", (NONE, NONE, NONE), id="other-parameters"),
    pytest.param(
        f"{SHOP}?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
        ("newsletter", "email", "spring-sale"),
        id="all-three",
    ),
    pytest.param(f"{SHOP}?utm_campaign=spring-sale", (NONE, NONE, "spring-sale"), id="one"),
    pytest.param(f"{SHOP}?utm_source=", (NONE, NONE, NONE), id="empty-value"),
    pytest.param(f"{SHOP}?utm_source", (NONE, NONE, NONE), id="no-equals"),
    pytest.param(f"{SHOP}?utm_source=%20+%09", (NONE, NONE, NONE), id="blank-value"),
    pytest.param(f"{SHOP}?utm_source=a&utm_source=b", ("a", NONE, NONE), id="repeated-first-wins"),
    pytest.param(
        f"{SHOP}?utm_source=&utm_source=b", ("b", NONE, NONE), id="repeated-first-non-empty"
    ),
    pytest.param(
        f"{SHOP}?UTM_Source=NewsLetter&utm_CAMPAIGN=Spring-SALE",
        ("newsletter", NONE, "spring-sale"),
        id="mixed-case",
    ),
    pytest.param(
        f"{SHOP}?utm_campaign=Spring%20Sale+2024", (NONE, NONE, "spring sale 2024"), id="spaces"
    ),
    pytest.param(
        f"{SHOP}?utm_campaign=%20%20big%09%0A%20sale%20", (NONE, NONE, "big sale"), id="whitespace"
    ),
    pytest.param(f"{SHOP}?utm_medium=a%2Bb", (NONE, "a+b", NONE), id="encoded-plus"),
    pytest.param(f"{SHOP}?utm_medium=a%26b%3Dc", (NONE, "a&b=c", NONE), id="encoded-separators"),
    pytest.param(f"{SHOP}?utm_source=caf%C3%A9", ("caf\u00e9", NONE, NONE), id="utf-8"),
    pytest.param(f"{SHOP}?utm_source=CAF%C3%89", ("caf\u00e9", NONE, NONE), id="utf-8-upper"),
    pytest.param(f"{SHOP}?utm_source=\u00c9t\u00e9", ("\u00e9t\u00e9", NONE, NONE), id="raw"),
    pytest.param(f"{SHOP}?utm_source=a%FFb", ("a\ufffdb", NONE, NONE), id="bad-utf-8"),
    pytest.param(f"{SHOP}?utm_source=a%2520b", ("a%20b", NONE, NONE), id="decoded-once"),
    pytest.param(f"{SHOP}?utm_source=50%", ("50%", NONE, NONE), id="stray-percent"),
    pytest.param(f"{SHOP}?utm%5Fsource=x", ("x", NONE, NONE), id="encoded-name"),
    pytest.param(f"{SHOP}?utm_source=a%00b%01c", ("a b c", NONE, NONE), id="controls"),
    pytest.param(f"{SHOP}?utm_source=a\x85b\x9f", ("a b", NONE, NONE), id="c1-controls"),
    pytest.param(f"{SHOP}?utm_source=a\ud800b", ("a?b", NONE, NONE), id="lone-surrogate"),
    pytest.param(f"{SHOP}?utm_source={LONG}", ("x" * MAX_NAME_LENGTH, NONE, NONE), id="long"),
    pytest.param(
        f"{SHOP}?utm_source={GRIN * MAX_NAME_LENGTH}",
        (GRIN * (MAX_NAME_LENGTH // 4), NONE, NONE),
        id="long-4-byte",
    ),
    pytest.param(
        f"{SHOP}?utm_source={EURO * MAX_NAME_LENGTH}",
        (EURO * (MAX_NAME_LENGTH // 3), NONE, NONE),
        id="long-3-byte-cut-at-a-character",
    ),
    pytest.param(
        f"{SHOP}?utm_source={'x' * (MAX_NAME_LENGTH - 1)}%20y",
        ("x" * (MAX_NAME_LENGTH - 1), NONE, NONE),
        id="long-no-trailing-space",
    ),
    pytest.param(f"{SHOP}?{LONG}=1&utm_source=a", ("a", NONE, NONE), id="long-name"),
    pytest.param(f"{SHOP}?x=1;utm_source=a", (NONE, NONE, NONE), id="semicolon-not-a-separator"),
    pytest.param(f"{SHOP}#utm_source=a", (NONE, NONE, NONE), id="fragment"),
    pytest.param(f"{SHOP}?utm_source=a#b", ("a", NONE, NONE), id="before-fragment"),
    pytest.param("", (NONE, NONE, NONE), id="empty-url"),
    pytest.param("not a url", (NONE, NONE, NONE), id="not-a-url"),
    pytest.param("http://[::1/?utm_source=a", ("a", NONE, NONE), id="invalid-host"),
    pytest.param("/landing?utm_source=a", ("a", NONE, NONE), id="path-only"),
]


@pytest.mark.parametrize(("url", "expected"), UTM_CASES)
def test_utm_values_of_landing_urls(url: str, expected: tuple[str, str, str]) -> None:
    assert utm_values(url) == UtmValues(*expected)


@pytest.mark.parametrize(("url", "expected"), UTM_CASES)
def test_each_rollup_takes_its_parameter_from_the_first_page(
    url: str, expected: tuple[str, str, str]
) -> None:
    rollups = [UtmSourceRollup(), UtmMediumRollup(), UtmCampaignRollup()]
    # A fresh instance each (and a URL asked before): the answer is the URL's alone.
    utm_values(f"{SHOP}?utm_source=other&utm_medium=other&utm_campaign=other")
    assert [rollup.bucket(0.0, Visit(url=url)) for rollup in rollups] == list(expected)


def test_urls_asked_in_turn_get_their_own_answers() -> None:
    urls = [f"{SHOP}?utm_source=a", f"{SHOP}?utm_source=b", f"{SHOP}?utm_source=a", SHOP]
    assert [utm_values(url).source for url in urls * 2] == ["a", "b", "a", NONE] * 2


def test_campaign_rollups_are_per_visitor_rollups() -> None:
    for rollup, name in (
        (UtmSourceRollup(), "utm_source"),
        (UtmMediumRollup(), "utm_medium"),
        (UtmCampaignRollup(), "utm_campaign"),
    ):
        assert isinstance(rollup, Rollup)
        assert (rollup.name, rollup.per_visitor) == (name, True)
        assert rollup.bucket(0.0, NO_VISIT) == NONE


# Any character (lone surrogates too) or percent-encoded byte.
PIECES = st.one_of(
    st.characters(exclude_categories=()), st.integers(0, 255).map(lambda byte: f"%{byte:02X}")
)


@given(st.lists(PIECES).map("".join), st.integers(1, 300))
def test_every_bucket_is_storable_and_normalised(text: str, repeat: int) -> None:
    url = f"{SHOP}?utm_source={text * repeat}&utm_medium={text}&utm_campaign={text}%00"
    for value in utm_values(url):
        assert value
        assert len(value.encode("utf-8")) <= MAX_NAME_LENGTH
        assert value == " ".join(value.split())
        assert value == NONE or value == value.lower()
        assert not any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in value)


# --- through the aggregator and the store ----------------------------------

START = 1_711_900_000.0  # 2024-03-31 15:46:40 UTC


def visit(vid: str, url: str, goal: str | None, offset: float) -> list[list[str]]:
    """A visitor's landing page, pixel, a second page without parameters and
    maybe a goal."""
    at = [format_timestamp(START + offset + step) for step in range(4)]
    records = [
        page_record(at[0], vid, "1", "203.0.113.7", "GET", url, "Firefox", ""),
        pixel_record(at[1], vid, "1"),
        page_record(at[2], vid, "1", "203.0.113.7", "GET", SHOP, "Firefox", url),
    ]
    if goal is not None:
        records.append(goal_record(at[3], vid, "1", goal, "", "", ""))
    return records


def test_counts_by_campaign_through_the_aggregator_and_store(tmp_path: Path) -> None:
    spring = f"{SHOP}?utm_source=newsletter&utm_medium=email&utm_campaign=Spring-Sale"
    visitors = [
        ("a" * 40, spring, "Purchased"),
        ("b" * 40, spring.replace("Spring-Sale", "spring-sale%20"), "Purchased"),
        ("c" * 40, spring, None),
        ("d" * 40, f"{SHOP}?utm_campaign=launch&utm_source=twitter", "Purchased"),
        ("e" * 40, SHOP, "Purchased"),
    ]
    aggregator = Aggregator(build_rollups(["utm_source", "utm_campaign", "hour"]))
    for number, (vid, url, goal) in enumerate(visitors):
        aggregator.add_all(visit(vid, url, goal, 10.0 * number))
    # A later visit through another campaign leaves the first-touch campaign.
    aggregator.add_all(visit("a" * 40, f"{SHOP}?utm_campaign=launch", "Purchased", 3600.0))
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(aggregator.drain())
        assert store.count("Purchased", rollup_key="utm_campaign", bucket_id="spring-sale") == 2
        assert store.count("viewed page", rollup_key="utm_campaign", bucket_id="spring-sale") == 3
        assert store.count("Purchased", rollup_key="utm_campaign", bucket_id="launch") == 1
        assert store.count("Purchased", rollup_key="utm_campaign", bucket_id=NONE) == 1
        assert store.count("Purchased", rollup_key="utm_source", bucket_id="newsletter") == 2
        assert store.count("Purchased", site_id=1) == 4
        table = store.breakdown("utm_campaign", ["viewed page", "Purchased"], order="visitors")
        assert table == {
            "spring-sale": {"": {"viewed page": [3, 0.0], "Purchased": [2, 0.0]}},
            "launch": {"": {"viewed page": [1, 0.0], "Purchased": [1, 0.0]}},
            NONE: {"": {"viewed page": [1, 0.0], "Purchased": [1, 0.0]}},
        }
        # 15:46 UTC, then the return visit an hour later.
        assert store.count("Purchased", rollup_key="hour", bucket_id="2024-03-31T15") == 4
        assert store.count("Purchased", rollup_key="hour", bucket_id="2024-03-31T16") == 1
