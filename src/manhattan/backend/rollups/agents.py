"""User agent rollups, ``browser`` and ``browser_version``, and crawlers.

User agents are parsed by ua-parser and the results cached by string; see
:mod:`manhattan.backend.rollups` for the bucket formats and what counts as a
crawler.
"""

from __future__ import annotations

from typing import NamedTuple

import ua_parser

from manhattan.backend.model import Visit
from manhattan.backend.rollups._bounded import remember

__all__ = [
    "UA_CACHE_SIZE",
    "BrowserRollup",
    "BrowserVersionRollup",
    "UserAgentInfo",
    "is_crawler",
    "user_agent_info",
]

UA_CACHE_SIZE = 10_000
"""How many distinct user agents :func:`user_agent_info` remembers."""


class UserAgentInfo(NamedTuple):
    """What the backend wants from a user agent string."""

    browser: str
    browser_version: str
    crawler: bool


_ua_cache: dict[str, UserAgentInfo] = {}


def _parse_user_agent(user_agent: str) -> UserAgentInfo:
    # The global parser uses the best matcher installed (ua-parser-rs).
    result = ua_parser.parser(user_agent, ua_parser.Domain.USER_AGENT | ua_parser.Domain.DEVICE)
    agent = result.user_agent
    browser = agent.family if agent is not None else "Other"
    version = f"{browser} {agent.major}" if agent is not None and agent.major else browser
    crawler = result.device is not None and result.device.family == "Spider"
    return UserAgentInfo(browser, version, crawler)


def user_agent_info(user_agent: str) -> UserAgentInfo:
    """Browser family, family and major version, and crawler flag of
    ``user_agent``, cached by string (parsing costs tens of microseconds)."""
    info = _ua_cache.get(user_agent)
    if info is None:
        info = remember(_ua_cache, user_agent, _parse_user_agent(user_agent), UA_CACHE_SIZE)
    return info


def is_crawler(user_agent: str) -> bool:
    """Whether ``user_agent`` is a known crawler (ua-parser's ``Spider``
    devices). An empty user agent is not."""
    return user_agent_info(user_agent).crawler


class BrowserRollup:
    """The browser family of the visitor's user agent (``"Chrome"``)."""

    name = "browser"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The family, ``"Other"`` when unknown."""
        return user_agent_info(visit.user_agent).browser


class BrowserVersionRollup:
    """Browser family and major version (``"Chrome 120"``)."""

    name = "browser_version"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """Family and major version, or the family alone without a version."""
        return user_agent_info(visit.user_agent).browser_version
