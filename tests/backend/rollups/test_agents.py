"""Tests of manhattan.backend.rollups.agents.

Expected browsers are ua-parser's names for well-known user agents.
"""

from __future__ import annotations

import pytest

from manhattan.backend.model import Rollup, Visit
from manhattan.backend.rollups import agents
from manhattan.backend.rollups.agents import (
    BrowserRollup,
    BrowserVersionRollup,
    UserAgentInfo,
    is_crawler,
    user_agent_info,
)

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
USER_AGENTS = [
    pytest.param(CHROME, "Chrome", "Chrome 120", False, id="chrome-desktop"),
    pytest.param(IPHONE, "Mobile Safari", "Mobile Safari 17", False, id="safari-iphone"),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox",
        "Firefox 121",
        False,
        id="firefox-linux",
    ),
    pytest.param(CHROME + " Edg/120.0.2210.91", "Edge", "Edge 120", False, id="edge-not-chrome"),
    pytest.param(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot",
        "Googlebot 2",
        True,
        id="googlebot",
    ),
    pytest.param(
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36",
        "Googlebot",
        "Googlebot 2",
        True,
        id="googlebot-smartphone-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "bingbot",
        "bingbot 2",
        True,
        id="bingbot",
    ),
    # Tools, not crawlers: the pixel rule filters them.
    pytest.param("curl/8.5.0", "curl", "curl 8", False, id="curl"),
    pytest.param("", "Other", "Other", False, id="empty"),
    pytest.param("garbage", "Other", "Other", False, id="unknown"),
]


@pytest.mark.parametrize(("user_agent", "browser", "version", "crawler"), USER_AGENTS)
def test_user_agents_are_parsed_by_ua_parser(
    user_agent: str, browser: str, version: str, crawler: bool
) -> None:
    assert user_agent_info(user_agent) == UserAgentInfo(browser, version, crawler)
    assert is_crawler(user_agent) is crawler
    visit = Visit(user_agent=user_agent)
    assert BrowserRollup().bucket(0.0, visit) == browser
    assert BrowserVersionRollup().bucket(0.0, visit) == version


def test_browser_rollups_are_per_visitor_rollups() -> None:
    for rollup, name in (
        (BrowserRollup(), "browser"),
        (BrowserVersionRollup(), "browser_version"),
    ):
        assert isinstance(rollup, Rollup)
        assert (rollup.name, rollup.per_visitor) == (name, True)


def test_user_agent_cache_is_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = agents._parse_user_agent

    def counting(user_agent: str) -> UserAgentInfo:
        parsed.append(user_agent)
        return real(user_agent)

    monkeypatch.setattr(agents, "_parse_user_agent", counting)
    monkeypatch.setattr(agents, "_ua_cache", {})
    monkeypatch.setattr(agents, "UA_CACHE_SIZE", 3)
    first = user_agent_info(CHROME)
    assert user_agent_info(CHROME) is first  # cached: the same object
    assert is_crawler(CHROME) is False
    assert BrowserRollup().bucket(0.0, Visit(user_agent=CHROME)) == "Chrome"
    assert parsed == [CHROME]
    user_agent_info("a")
    user_agent_info("b")  # the cache is full now: CHROME, a, b
    assert user_agent_info(CHROME) is first
    user_agent_info("c")  # clears it
    assert len(agents._ua_cache) == 1
    assert user_agent_info(CHROME) == first
    assert parsed == [CHROME, "a", "b", "c", CHROME]
