"""The shared core: the options' defaults and checks, and the per-request steps
(exclusion and QA links among them)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import webob

from manhattan.experiments.links import FORCE_PARAMETER, MAX_FORCED_TEXT, LinkSigner
from manhattan.log.memory import MemoryLog
from manhattan.visitor import Visitor
from manhattan.visitor.environ import page_record_from_environ
from manhattan.web.cookies import DEFAULT_MAX_AGE, CookieSigner
from manhattan.web.options import OPTION_NAMES
from manhattan.web.rules import anonymize_ip
from manhattan.web.tracker import Tracker
from tests.web.test_options import FLAGS, NON_DEFAULT, OwnVisitor

SECRET = "tracker-secret"
VID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"


@pytest.mark.parametrize(
    ("options", "cookie_attributes", "expected"),
    [
        pytest.param(
            {},
            f"manhattan={{value}}; Max-Age={DEFAULT_MAX_AGE}; Path=/; HttpOnly; SameSite=Lax",
            ("/vpixel.gif", "0", True, None, (), None, False, Visitor),
            id="defaults",
        ),
        pytest.param(
            NON_DEFAULT,
            "mh={value}; Max-Age=60; Path=/shop; Domain=example.com; Secure; HttpOnly;"
            " SameSite=Strict",
            (
                "/t/p.gif",
                "3",
                False,
                NON_DEFAULT["count_page"],
                (("Accept-Language", "HTTP_ACCEPT_LANGUAGE"),),
                anonymize_ip,
                True,
                OwnVisitor,
            ),
            id="every-option",
        ),
    ],
)
def test_options_and_their_defaults(
    options: dict[str, Any], cookie_attributes: str, expected: tuple[Any, ...]
) -> None:
    tracker = Tracker(MemoryLog(), SECRET, options)
    assert tracker.cookie_header(VID) == cookie_attributes.format(
        value=CookieSigner(SECRET).sign(VID)
    )
    assert (
        tracker.pixel_path,
        tracker.sites.site("Example.com:8080"),
        tracker.buffer_writes,
        tracker.count_page,
        tracker.record_headers,
        tracker.anonymize,
        tracker.respect_gpc,
        tracker.visitor_class,
    ) == expected


@pytest.mark.parametrize("flag", [pytest.param(name, id=name) for name in FLAGS])
@pytest.mark.parametrize(
    "value",
    [pytest.param("false", id="str"), pytest.param(1, id="int"), pytest.param(None, id="none")],
)
def test_flags_must_be_true_or_false(flag: str, value: object) -> None:
    with pytest.raises(TypeError, match=f"^{flag} must be True or False, not {value!r}$"):
        Tracker(MemoryLog(), SECRET, {flag: value})


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        pytest.param(
            {"anonymise_ip": True},
            TypeError,
            r"^unknown option 'anonymise_ip' \(did you mean 'anonymize_ip'\?\)$",
            id="typo",
        ),
        pytest.param({"offload": True}, TypeError, "unknown option 'offload'", id="asgi-only"),
        pytest.param(
            {"cookie_name": 7}, TypeError, "cookie_name must be a str, not int", id="name"
        ),
        pytest.param({"cookie_name": "a b"}, ValueError, "cookie_name", id="name-token"),
        pytest.param({"host_map": ["a.com"]}, TypeError, "host_map must be a dict", id="host-map"),
        pytest.param(
            {"record_headers": 5},
            TypeError,
            "record_headers must be a sequence of header names, not 5",
            id="headers-not-iterable",
        ),
        pytest.param(
            {"record_headers": ["X-A", 5]},
            TypeError,
            r"record_headers must be a sequence of header names, not \['X-A', 5\]",
            id="header-not-a-str",
        ),
        pytest.param({"pixel_path": None}, ValueError, "pixel_path", id="pixel-path"),
        pytest.param({"count_page": "yes"}, TypeError, "count_page must be a callable", id="rule"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        Tracker(MemoryLog(), SECRET, options)


def test_an_adapter_names_the_options_it_takes() -> None:
    class Adapter(Tracker):
        OPTIONS = OPTION_NAMES | {"extra"}

    assert Adapter(MemoryLog(), SECRET, {"extra": 1}).cookie_name == "manhattan"
    with pytest.raises(TypeError, match=r"^unknown option 'extra'; the options are "):
        Tracker(MemoryLog(), SECRET, {"extra": 1})


def test_record_headers_may_be_any_iterable() -> None:
    names = (name for name in ["X-A", "", "X-B"])
    tracker = Tracker(MemoryLog(), SECRET, {"record_headers": names})
    assert tracker.record_headers == (("X-A", "HTTP_X_A"), ("X-B", "HTTP_X_B"))


@pytest.mark.parametrize(
    "options", [pytest.param({}, id="plain"), pytest.param(NON_DEFAULT, id="options")]
)
def test_page_record_only_builds(options: dict[str, Any]) -> None:
    tracker = Tracker(MemoryLog(), SECRET, options)
    environ = webob.Request.blank(
        "/a?b=1", headers={"Accept-Language": "de"}, remote_addr="203.0.113.7"
    ).environ
    visitor = Visitor(VID, MemoryLog(), "3")
    record = tracker.page_record(environ, visitor, 1_700_000_000.25)
    assert record == page_record_from_environ(
        "1700000000.2500", VID, "3", environ, tracker.record_headers, tracker.anonymize
    )
    assert visitor.buffer == []


@pytest.mark.parametrize(
    ("script_name", "src"),
    [
        pytest.param("", "/vpixel.gif", id="root"),
        pytest.param("/shop", "/shop/vpixel.gif", id="mounted"),
        pytest.param("/caf\xc3\xa9", "/caf%C3%A9/vpixel.gif", id="quoted"),
        pytest.param('/a"b&c', "/a%22b&amp;c/vpixel.gif", id="escaped"),
    ],
)
def test_tag_for(script_name: str, src: str) -> None:
    tracker = Tracker(MemoryLog(), SECRET, {})
    tag = tracker.tag_for(script_name)
    assert re.fullmatch(rb'<img src="([^"]*)"[^>]*>', tag).group(1).decode() == src  # type: ignore[union-attr]
    assert tracker.tag_for(script_name) is tag


class ForcedVisitor(Visitor):
    """A visitor that keeps what the tracker forced (the real Visitor's use
    of it is the visitor's tests' business)."""

    def __init__(self, *args: Any, forced: dict[str, str] | None = None) -> None:
        super().__init__(*args)
        self.forced = forced


def test_exclude_defaults_to_nothing() -> None:
    tracker = Tracker(MemoryLog(), SECRET, {})
    assert (tracker.exclude, tracker.excluded_networks) == (None, None)


def test_exclude_takes_a_callable_as_given() -> None:
    def rule(request: object) -> bool:
        return True

    tracker = Tracker(MemoryLog(), SECRET, {"exclude": rule})
    assert (tracker.exclude, tracker.excluded_networks) == (rule, None)


@pytest.mark.parametrize(
    ("networks", "kept"),
    [
        pytest.param(["10.0.0.0/8"], 1, id="list"),
        pytest.param(("10.0.0.0/8", "::1"), 2, id="tuple"),
        pytest.param((n for n in ["10.0.0.0/8"]), 1, id="iterable"),
        pytest.param([], 0, id="empty"),
    ],
)
def test_exclude_takes_networks(networks: Any, kept: int) -> None:
    tracker = Tracker(MemoryLog(), SECRET, {"exclude": networks})
    assert tracker.exclude is None
    if kept:
        assert tracker.excluded_networks is not None
        assert len(tracker.excluded_networks.networks) == kept
    else:
        assert tracker.excluded_networks is None  # nothing to check per request


@pytest.mark.parametrize(
    ("exclude", "error", "message"),
    [
        pytest.param(
            "10.0.0.0/8",
            TypeError,
            "exclude must be a callable(request) -> bool or a list of networks, "
            "not '10.0.0.0/8' (put it in a list)",
            id="a-str",
        ),
        pytest.param(
            b"10.0.0.0/8",
            TypeError,
            "exclude must be a callable(request) -> bool or a list of networks, not b'10.0.0.0/8'",
            id="bytes",
        ),
        pytest.param(
            7,
            TypeError,
            "exclude must be a callable(request) -> bool or a list of networks, not 7",
            id="int",
        ),
        pytest.param(
            ["10.0.0.0/8", "nope"],
            ValueError,
            "exclude[1]: 'nope' is not an IP address or network",
            id="bad-network",
        ),
    ],
)
def test_bad_exclude_is_named(exclude: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        Tracker(MemoryLog(), SECRET, {"exclude": exclude})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("remote_addr", "excluded", "tracked"),
    [
        pytest.param("10.1.2.3", False, False, id="in-a-network"),
        pytest.param("203.0.113.9", False, True, id="outside"),
        pytest.param("203.0.113.9", True, False, id="excluded-by-the-adapter"),
        pytest.param(None, False, True, id="no-address"),
    ],
)
def test_begin_drops_the_records_of_excluded_requests(
    remote_addr: str | None, excluded: bool, tracked: bool
) -> None:
    log = MemoryLog()
    tracker = Tracker(log, SECRET, {"exclude": ["10.0.0.0/8"]})
    environ = {} if remote_addr is None else {"REMOTE_ADDR": remote_addr}
    begun = tracker.begin(environ, excluded)
    assert begun.tracked is tracked
    begun.visitor.goal("signed up")
    begun.visitor.flush()
    assert len(log.records) == (1 if tracked else 0)
    assert (begun.fresh, begun.set_cookie, begun.qa_cookie) == (True, True, None)


def test_qa_cookie_is_a_session_cookie_with_the_cookie_attributes() -> None:
    tracker = Tracker(MemoryLog(), SECRET, NON_DEFAULT)
    assert tracker.qa_cookie_name == "mh_qa"
    assert tracker.qa_cookie_header("v") == (
        "mh_qa=v; Path=/shop; Domain=example.com; Secure; HttpOnly; SameSite=Strict"
    )


def qa_environ(query: str = "", cookie: str = "") -> dict[str, str]:
    environ = {"QUERY_STRING": query}
    if cookie:
        environ["HTTP_COOKIE"] = cookie
    return environ


LINKS = LinkSigner(SECRET)
ORANGE = LINKS.sign("Button", "orange")
GREEN = LINKS.sign("Button", "green")
SHOWN = LINKS.sign("Banner", "shown")


@pytest.mark.parametrize(
    ("environ", "forced", "qa_cookie"),
    [
        pytest.param(qa_environ(), None, None, id="no-link"),
        pytest.param(qa_environ("a=1", "other=1"), None, None, id="unrelated"),
        pytest.param(
            qa_environ(f"{FORCE_PARAMETER}={ORANGE}"), {"Button": "orange"}, ORANGE, id="link"
        ),
        pytest.param(
            qa_environ(f"{FORCE_PARAMETER}={ORANGE}", f"manhattan_qa={ORANGE}"),
            {"Button": "orange"},
            None,
            id="link-already-in-the-cookie",
        ),
        pytest.param(
            qa_environ("", f"a=1; manhattan_qa={ORANGE}"), {"Button": "orange"}, None, id="cookie"
        ),
        pytest.param(
            qa_environ(f"{FORCE_PARAMETER}={GREEN}", f"manhattan_qa={ORANGE}~{SHOWN}"),
            {"Button": "green", "Banner": "shown"},
            f"{GREEN}~{SHOWN}",
            id="link-changes-the-cookie",
        ),
        pytest.param(qa_environ(f"{FORCE_PARAMETER}={ORANGE}x"), None, None, id="tampered-link"),
        pytest.param(qa_environ("", f"manhattan_qa={ORANGE}x"), None, None, id="tampered-cookie"),
        pytest.param(
            qa_environ(f"{FORCE_PARAMETER}={LinkSigner('other').sign('Button', 'orange')}"),
            None,
            None,
            id="other-secret",
        ),
    ],
)
def test_begin_forces_the_populations_of_a_qa_link(
    environ: dict[str, str], forced: dict[str, str] | None, qa_cookie: str | None
) -> None:
    tracker = Tracker(MemoryLog(), SECRET, {"visitor_class": ForcedVisitor})
    begun = tracker.begin(environ)
    assert isinstance(begun.visitor, ForcedVisitor)
    assert begun.visitor.forced == forced
    assert begun.qa_cookie == qa_cookie


def test_begin_forces_nothing_through_a_visitor_class_of_0_3s_signature() -> None:
    class Plain(Visitor):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)

    tracker = Tracker(MemoryLog(), SECRET, {"visitor_class": Plain})
    assert isinstance(tracker.begin(qa_environ("a=1")).visitor, Plain)


def test_too_many_forced_tests_for_a_cookie_force_only_the_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tests = [f"Test {n} " + "x" * 100 for n in range(30)]
    tokens = [LINKS.sign(test, "population") for test in tests]
    query = "&".join(f"{FORCE_PARAMETER}={token}" for token in tokens)
    tracker = Tracker(MemoryLog(), SECRET, {"visitor_class": ForcedVisitor})
    with caplog.at_level(logging.WARNING, logger="manhattan.middleware"):
        begun = tracker.begin(qa_environ(query))
    assert isinstance(begun.visitor, ForcedVisitor)
    assert begun.visitor.forced == dict.fromkeys(tests, "population")
    assert begun.qa_cookie is None
    assert [record.getMessage() for record in caplog.records] == [
        f"manhattan: a QA link forces 30 tests, too many to keep in a cookie "
        f"({len('~'.join(tokens))} characters, at most {MAX_FORCED_TEXT}): "
        "only this request shows them"
    ]
