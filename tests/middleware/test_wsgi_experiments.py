"""The WSGI middleware's experiment workflow: QA links and excluded requests."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import webob
from webtest import TestApp

from manhattan.experiments import Experiment, force_link
from manhattan.experiments.links import FORCE_PARAMETER, LinkSigner
from manhattan.log.memory import MemoryLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import Visitor
from tests.middleware.test_wsgi import spec_cookie

SECRET = "middleware-secret"
VID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
TEST = "button colour"
COLOURS = ["red", "blue", "green"]
OTHER_TEST = "banner"
PAGE = "<!doctype html><html><head><title>t</title></head><body><p>{}</p></body></html>"

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]


def natural(test: str, populations: list[str], visitor_id: str = VID) -> str:
    """The population ``visitor_id`` gets in ``test`` with nothing forced."""
    return str(Visitor(visitor_id, MemoryLog()).split(test, populations))


FORCED = next(colour for colour in COLOURS if colour != natural(TEST, COLOURS))
"""A population VID does not get by itself: only a QA link shows it."""


def shop(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """A page showing the visitor's colour, with a second test and a goal."""
    visitor = environ["manhattan.visitor"]
    colour = visitor.split(TEST, COLOURS)
    visitor.split(OTHER_TEST, ["shown", "hidden"])
    visitor.goal("signed up")
    start_response("200 OK", [("Content-Type", "text/html")])
    return [PAGE.format(colour).encode()]


def make(**options: Any) -> tuple[TestApp, MemoryLog]:
    """The shop behind the middleware, and a browser that is visitor VID."""
    log = MemoryLog()
    browser = TestApp(ManhattanMiddleware(shop, log, SECRET, **options))
    browser.set_cookie("manhattan", spec_cookie(VID))
    return browser, log


def kinds(log: MemoryLog) -> list[str]:
    return [record[1] for record in log.records]


def split_tests(log: MemoryLog) -> list[str]:
    return [record[5] for record in log.records if record[1] == "split"]


def set_cookies(response: webob.Response, name: str) -> list[str]:
    return [value for value in response.headers.getall("Set-Cookie") if value.startswith(name)]


def colour_of(response: webob.Response) -> str:
    return response.text.partition("<p>")[2].partition("</p>")[0]


def test_a_qa_link_shows_its_population_and_records_nothing_of_its_test() -> None:
    browser, log = make()
    response = browser.get(force_link("/?page=1", SECRET, TEST, FORCED))
    assert colour_of(response) == FORCED
    # The page view and the goal are recorded; of the splits, only the other test's.
    assert kinds(log) == ["page", "split", "goal"]
    assert split_tests(log) == [OTHER_TEST]
    [cookie] = set_cookies(response, "manhattan_qa=")
    token = LinkSigner(SECRET).sign(TEST, FORCED)
    assert cookie == f"manhattan_qa={token}; Path=/; HttpOnly; SameSite=Lax"  # no Max-Age
    assert set_cookies(response, "manhattan=") == []  # a known visitor keeps theirs


def test_the_qa_cookie_keeps_the_population_for_the_session() -> None:
    browser, log = make()
    browser.get(force_link("/", SECRET, TEST, FORCED))
    later = browser.get("/elsewhere")
    assert colour_of(later) == FORCED
    assert set_cookies(later, "manhattan_qa=") == []  # already set
    assert split_tests(log) == [OTHER_TEST, OTHER_TEST]
    # A new session (the browser closed: session cookies gone) is the visitor again.
    browser.reset()
    browser.set_cookie("manhattan", spec_cookie(VID))
    assert colour_of(browser.get("/")) == natural(TEST, COLOURS)
    assert split_tests(log)[-2:] == [TEST, OTHER_TEST]


def test_a_second_link_adds_a_test_and_a_third_changes_one() -> None:
    browser, log = make()
    browser.get(force_link("/", SECRET, TEST, FORCED))
    other = next(p for p in ("shown", "hidden") if p != natural(OTHER_TEST, ["shown", "hidden"]))
    second = browser.get(force_link("/", SECRET, OTHER_TEST, other))
    signer = LinkSigner(SECRET)
    both = signer.value({TEST: FORCED, OTHER_TEST: other})
    assert set_cookies(second, "manhattan_qa=")[0].startswith(f"manhattan_qa={both};")
    assert kinds(log)[3:] == ["page", "goal"]  # neither test recorded
    third = browser.get(force_link("/", SECRET, TEST, natural(TEST, COLOURS)))
    assert colour_of(third) == natural(TEST, COLOURS)
    changed = signer.value({TEST: natural(TEST, COLOURS), OTHER_TEST: other})
    assert set_cookies(third, "manhattan_qa=")[0].startswith(f"manhattan_qa={changed};")


def tampered(link: str) -> str:
    """``link`` with the last character of its signature changed."""
    return link[:-1] + ("A" if link[-1] != "A" else "B")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(tampered(force_link("/", SECRET, TEST, FORCED)), id="tampered"),
        pytest.param(force_link("/", "another site's secret", TEST, FORCED), id="other-secret"),
        pytest.param(
            "/?" + force_link("/", SECRET, TEST, FORCED).rpartition("?")[2].rpartition(".")[0],
            id="unsigned",
        ),
        pytest.param(f"/?{FORCE_PARAMETER}=garbage", id="garbage"),
    ],
)
def test_a_link_that_does_not_verify_is_ignored(url: str) -> None:
    browser, log = make()
    response = browser.get(url)
    assert response.status_int == 200
    assert colour_of(response) == natural(TEST, COLOURS)
    assert set_cookies(response, "manhattan_qa=") == []
    assert split_tests(log) == [TEST, OTHER_TEST]


def test_a_signed_link_to_no_population_of_the_test_changes_nothing() -> None:
    browser, log = make()
    response = browser.get(force_link("/", SECRET, TEST, "purple"))
    assert colour_of(response) == natural(TEST, COLOURS)
    # The split ignores it and records as usual; the cookie keeps what was signed.
    assert split_tests(log) == [TEST, OTHER_TEST]
    assert len(set_cookies(response, "manhattan_qa=")) == 1


def test_a_tampered_qa_cookie_is_ignored() -> None:
    browser, log = make()
    browser.set_cookie("manhattan_qa", LinkSigner(SECRET).sign(TEST, FORCED)[:-1] + "x")
    assert colour_of(browser.get("/")) == natural(TEST, COLOURS)
    assert split_tests(log) == [TEST, OTHER_TEST]


def test_a_link_signed_with_an_older_secret_of_a_rotation_works() -> None:
    log = MemoryLog()
    browser = TestApp(ManhattanMiddleware(shop, log, ["new secret", SECRET]))
    browser.set_cookie("manhattan", spec_cookie(VID))
    response = browser.get(force_link("/", SECRET, TEST, FORCED))
    assert colour_of(response) == FORCED
    # The cookie is signed anew with the first secret.
    token = LinkSigner("new secret").sign(TEST, FORCED)
    assert set_cookies(response, "manhattan_qa=")[0].startswith(f"manhattan_qa={token};")


def test_the_qa_cookie_follows_the_cookie_options() -> None:
    options = {"cookie_name": "mh", "secure": True, "domain": "example.com", "path": "/shop"}
    browser, _ = make(**options)
    response = browser.get(force_link("/", SECRET, TEST, FORCED))
    [cookie] = set_cookies(response, "mh_qa=")
    token = LinkSigner(SECRET).sign(TEST, FORCED)
    assert (
        cookie == f"mh_qa={token}; Path=/shop; Domain=example.com; Secure; HttpOnly; SameSite=Lax"
    )


def test_a_qa_link_on_the_pixel_sets_the_cookie_too() -> None:
    browser, log = make()
    response = browser.get(force_link("/vpixel.gif", SECRET, TEST, FORCED))
    assert response.content_type == "image/gif"
    assert len(set_cookies(response, "manhattan_qa=")) == 1
    assert kinds(log) == ["pixel"]


BUTTON = Experiment(TEST, COLOURS, goal="signed up")


def declared_shop(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """The shop with its test declared as an experiment."""
    colour = environ["manhattan.visitor"].split(BUTTON)
    start_response("200 OK", [("Content-Type", "text/html")])
    return [PAGE.format(colour).encode()]


def test_a_qa_link_forces_a_declared_experiment() -> None:
    log = MemoryLog()
    browser = TestApp(ManhattanMiddleware(declared_shop, log, SECRET))
    browser.set_cookie("manhattan", spec_cookie(VID))
    assert colour_of(browser.get(force_link("/", SECRET, BUTTON, FORCED))) == FORCED
    assert colour_of(browser.get("/")) == FORCED
    assert kinds(log) == ["page", "page"]


def staff_only(request: webob.Request) -> bool:
    return request.headers.get("X-Staff") == "1" or request.remote_addr == "192.0.2.1"


@pytest.mark.parametrize(
    ("options", "path", "extra", "recorded"),
    [
        pytest.param({"exclude": staff_only}, "/", {"HTTP_X_STAFF": "1"}, False, id="callable"),
        pytest.param(
            {"exclude": staff_only},
            "/",
            {"REMOTE_ADDR": "192.0.2.1"},
            False,
            id="callable-address",
        ),
        pytest.param({"exclude": staff_only}, "/", {"HTTP_X_STAFF": "0"}, True, id="callable-no"),
        pytest.param(
            {"exclude": ["10.0.0.0/8"]}, "/", {"REMOTE_ADDR": "10.4.5.6"}, False, id="network"
        ),
        pytest.param(
            {"exclude": ["10.0.0.0/8"]},
            "/",
            {"REMOTE_ADDR": "::ffff:10.4.5.6"},
            False,
            id="network-mapped",
        ),
        pytest.param(
            {"exclude": ["10.0.0.0/8"]}, "/", {"REMOTE_ADDR": "203.0.113.9"}, True, id="outside"
        ),
        pytest.param({"exclude": []}, "/", {"REMOTE_ADDR": "10.4.5.6"}, True, id="no-networks"),
    ],
)
def test_excluded_requests_are_served_and_record_nothing(
    options: dict[str, Any], path: str, extra: dict[str, str], recorded: bool
) -> None:
    log = MemoryLog()
    browser = TestApp(ManhattanMiddleware(shop, log, SECRET, **options))
    response = browser.get(path, extra_environ=extra)
    assert response.status_int == 200
    assert colour_of(response) in COLOURS
    # Like respect_gpc: a cookie, so the populations stay put, but no pixel.
    assert len(set_cookies(response, "manhattan=")) == 1
    assert ("<img" in response.text) is recorded
    browser.get("/vpixel.gif", extra_environ=extra)
    assert kinds(log) == (["page", "split", "split", "goal", "pixel"] if recorded else [])


def test_the_exclude_callable_sees_the_request_before_the_app() -> None:
    seen: list[tuple[str, str]] = []

    def rule(request: webob.Request) -> bool:
        seen.append((request.method, request.url))
        return False

    browser = TestApp(ManhattanMiddleware(shop, MemoryLog(), SECRET, exclude=rule))
    browser.post("/a?b=1")
    assert seen == [("POST", "http://localhost/a?b=1")]


def test_an_excluded_visitor_with_a_qa_link_sees_its_population() -> None:
    browser, log = make(exclude=["127.0.0.0/8"])
    response = browser.get(
        force_link("/", SECRET, TEST, FORCED), extra_environ={"REMOTE_ADDR": "127.0.0.1"}
    )
    assert colour_of(response) == FORCED
    assert len(set_cookies(response, "manhattan_qa=")) == 1
    assert log.records == []


@pytest.mark.parametrize(
    ("exclude", "error", "message"),
    [
        pytest.param(
            "10.0.0.0/8",
            TypeError,
            re.escape("exclude must be a callable(request: webob.Request) -> bool or a list of"),
            id="str",
        ),
        pytest.param(["10.0.0.0/33"], ValueError, r"exclude\[0\]: '10.0.0.0/33'", id="network"),
    ],
)
def test_bad_exclude_fails_at_construction(
    exclude: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ManhattanMiddleware(shop, MemoryLog(), SECRET, exclude=exclude)  # type: ignore[arg-type]
