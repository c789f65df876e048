"""Fixtures shared by every test directory."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLIs' main() points the "manhattan" logger at a handler of its
    own: put back what the logger had before each test."""
    logger = logging.getLogger("manhattan")
    handlers, level = logger.handlers[:], logger.level
    yield
    for handler in logger.handlers:
        if handler not in handlers:
            handler.close()
    logger.handlers[:] = handlers
    logger.setLevel(level)


POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_DATABASE = "test"
POSTGRES_USERS = ("postgres", "root")  # trust authentication, no password


def _unavailable(reason: str) -> NoReturn:
    """Skip, except on CI (CI=true), where the database must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL is required)", pytrace=False)
    pytest.skip(reason)


def _connect() -> tuple[Any, str]:
    """An autocommit psycopg connection to the test database, and its user."""
    try:
        import psycopg
    except ImportError as exc:
        _unavailable(f"PostgreSQL tests need psycopg: {exc}")
    errors = []
    for user in POSTGRES_USERS:
        try:
            conn = psycopg.connect(
                host=POSTGRES_HOST,
                port=POSTGRES_PORT,
                user=user,
                dbname=POSTGRES_DATABASE,
                connect_timeout=3,
                autocommit=True,
            )
        except psycopg.Error as exc:
            errors.append(f"{user}: {' '.join(str(exc).split())}")
        else:
            return conn, user
    _unavailable(
        f"PostgreSQL unreachable at {POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE} "
        f"({'; '.join(errors)})"
    )


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An SQLAlchemy URL to the PostgreSQL test database whose search_path is
    a fresh schema of its own, dropped afterwards.

    Skips when PostgreSQL is unreachable, but fails when CI=true.
    """
    conn, user = _connect()
    schema = f"test_{secrets.token_hex(8)}"
    with conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield (
            f"postgresql+psycopg://{user}@{POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE}"
            f"?options=-csearch_path%3D{schema}"
        )
    finally:
        conn, _ = _connect()
        with conn:
            conn.execute("SET lock_timeout = '10s'")  # a leaked transaction fails, not hangs
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379


class RedisURL(str):
    """A Redis URL whose ``prefix`` is the test's own: keys starting with it
    are the test's, and are deleted when it ends."""

    prefix: str


def _redis_unavailable(reason: str) -> NoReturn:
    """Skip, except on CI (CI=true), where Redis must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: Redis is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def redis_url() -> Iterator[RedisURL]:
    """A URL of the Redis server on 127.0.0.1:6379, with a random key prefix
    (``redis_url.prefix``) for the test's keys, which are deleted afterwards.

    Skips when Redis is unreachable, but fails when CI=true.
    """
    import redis

    url = RedisURL(f"redis://{REDIS_HOST}:{REDIS_PORT}/0")
    url.prefix = f"test:{secrets.token_hex(8)}:"
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        _redis_unavailable(f"Redis unreachable at {REDIS_HOST}:{REDIS_PORT} ({exc})")
    try:
        yield url
    finally:
        keys = list(client.scan_iter(match=f"{url.prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium session (Debian's chromium and chromedriver) for
    the module.

    Skips when either is missing, but fails when CI=true.
    """
    import shutil
    import tempfile

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        message = (
            f"headless Chromium tests need {' and '.join(missing)} "
            "(apt install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} (CI=true: the browser tests are required)", pytrace=False)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="manhattan-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
