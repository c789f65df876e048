"""The log server tests' Redis list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis


@pytest.fixture
def queue(redis_url: Any) -> Iterator[tuple[str, str, redis.Redis]]:
    """The test's Redis URL, its queue key and a client."""
    client = redis.Redis.from_url(redis_url)
    yield str(redis_url), redis_url.prefix + "queue", client
    client.close()
