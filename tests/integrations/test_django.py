"""The Django middleware, through Django's test Client (sync and async)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import AsyncClient, Client, RequestFactory, override_settings
from django.urls import path

from manhattan.integrations.django import ManhattanMiddleware
from manhattan.log.memory import MemoryLog
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor import Visitor
from tests.asgi.harness import HTML, SECRET, TAG_RE, VID, spec_cookie, split_tag
from tests.integrations.django_setup import configure_django
from tests.web.test_options import NON_DEFAULT, OwnVisitor

MIDDLEWARE = ["manhattan.integrations.django.ManhattanMiddleware"]
LOG = MemoryLog()  # the target of the dotted-path MANHATTAN_LOG test


def page(request: HttpRequest) -> HttpResponse:
    colour = request.manhattan_visitor.split("colour", ["red", "blue"])  # type: ignore[attr-defined]
    response = HttpResponse(HTML.replace(b"Hi", colour.encode()))
    response["Content-Length"] = str(len(response.content))
    return response


def bare_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HTML)


def named(request: HttpRequest, name: str) -> HttpResponse:
    return HttpResponse(HTML.replace(b"Hi", name.encode()))


def gzipped(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(HTML)
    response["Content-Encoding"] = "gzip"
    return response


def buy(request: HttpRequest) -> JsonResponse:
    request.manhattan_visitor.goal("bought", 3)  # type: ignore[attr-defined]
    return JsonResponse({"ok": True})


def stream(request: HttpRequest) -> StreamingHttpResponse:
    visitor = request.manhattan_visitor  # type: ignore[attr-defined]

    def chunks() -> Iterator[bytes]:
        for index in range(0, len(HTML), 9):
            yield HTML[index : index + 9]
        visitor.goal("streamed")  # recorded while the body is sent: still written

    response = StreamingHttpResponse(chunks(), content_type="text/html")
    response["Content-Length"] = str(len(HTML))
    return response


def stream_json(request: HttpRequest) -> StreamingHttpResponse:
    return StreamingHttpResponse(iter([b"[1,", b"2]"]), content_type="application/json")


def async_stream(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(0, len(HTML), 9):
            yield HTML[index : index + 9]

    return StreamingHttpResponse(chunks(), content_type="text/html")


def async_stream_json(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        request.manhattan_visitor.goal("fetched")  # type: ignore[attr-defined]
        yield b"[1]"

    return StreamingHttpResponse(chunks(), content_type="application/json")


SCRIPT_PAGE = (
    b'<html><body><script>var end = "</body>";</script><p>x</p><!-- </body> --></body></html>'
)


def script_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(SCRIPT_PAGE)


def script_stream(request: HttpRequest) -> StreamingHttpResponse:
    chunks = [SCRIPT_PAGE[index : index + 7] for index in range(0, len(SCRIPT_PAGE), 7)]
    return StreamingHttpResponse(iter(chunks), content_type="text/html")


def partial(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(HTML[:20], status=206)
    response["Content-Range"] = "bytes 0-19/500"
    response["Content-Length"] = "20"
    return response


def not_modified(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(status=304)
    response["Content-Length"] = "5000"
    return response


def unbuffered_goal(request: HttpRequest) -> HttpResponse:
    request.manhattan_visitor.goal("tried")  # type: ignore[attr-defined]
    return HttpResponse(HTML)


def broken(request: HttpRequest) -> HttpResponse:
    request.manhattan_visitor.goal("tried")  # type: ignore[attr-defined]
    raise RuntimeError("broken view")


urlpatterns = [
    path("", page),
    path("bare", bare_page),
    path("gzip", gzipped),
    path("buy", buy),
    path("stream", stream),
    path("stream.json", stream_json),
    path("async-stream", async_stream),
    path("async-stream.json", async_stream_json),
    path("broken", broken),
    path("script", script_page),
    path("script-stream", script_stream),
    path("partial", partial),
    path("not-modified", not_modified),
    path("goal", unbuffered_goal),
    path("caf\u00e9/<str:name>", named),
]


@pytest.fixture(autouse=True)
def _django() -> None:
    configure_django()


def settings_for(log: Any = None, **extra: Any) -> override_settings:
    values: dict[str, Any] = {
        "MIDDLEWARE": MIDDLEWARE,
        "ROOT_URLCONF": __name__,
        "MANHATTAN_SECRET": SECRET,
        "MANHATTAN_LOG": log,
    }
    values.update(extra)
    return override_settings(**values)


def kinds(log: MemoryLog) -> list[str]:
    return [record[1] for record in log.records]


def test_fresh_then_returning_visitor() -> None:
    log = MemoryLog()
    with settings_for(log):
        client = Client()
        first = client.get("/")
        second = client.post("/buy")
        third = client.get("/")
    cookie = first.cookies["manhattan"]
    [vid] = {record[3] for record in log.records}
    assert cookie.value == spec_cookie(vid)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == 63072000
    assert "manhattan" not in second.cookies
    assert third.content == first.content
    assert kinds(log) == ["page", "split", "goal", "page", "split"]
    assert log.records[0][7] == "http://testserver/"
    src, _ = split_tag(first.content)
    assert src == "/vpixel.gif"
    assert first["Content-Length"] == str(len(first.content))


class FixedClockVisitor(Visitor):
    """A visitor of the user's own: its records carry a fixed time."""

    def timestamp(self) -> float:
        return 1_700_000_000.5


def test_visitor_class_option() -> None:
    log = MemoryLog()
    with settings_for(log, MANHATTAN_OPTIONS={"visitor_class": FixedClockVisitor}):
        Client().get("/")
    assert kinds(log) == ["page", "split"]
    assert {record[2] for record in log.records} == {"1700000000.5000"}


def test_injected_without_content_length() -> None:
    with settings_for(MemoryLog()):
        response = Client().get("/bare")
    assert split_tag(response.content)[1] == HTML
    assert not response.has_header("Content-Length")


@pytest.mark.parametrize(
    ("method", "url"),
    [pytest.param("head", "/bare", id="head"), pytest.param("get", "/gzip", id="gzip")],
)
def test_no_injection(method: str, url: str) -> None:
    with settings_for(MemoryLog()):
        response = getattr(Client(), method)(url)
    assert b"<img" not in response.content


@pytest.mark.parametrize(
    ("url", "status", "content", "length"),
    [
        pytest.param("/partial", 206, HTML[:20], "20", id="partial"),
        pytest.param("/not-modified", 304, b"", "5000", id="not-modified"),
    ],
)
def test_partial_and_bodiless_responses_pass_untouched(
    url: str, status: int, content: bytes, length: str
) -> None:
    log = MemoryLog()
    with settings_for(log):
        response = Client().get(url, HTTP_COOKIE=f"manhattan={spec_cookie(VID)}")
    assert response.status_code == status
    assert response.content == content
    assert response["Content-Length"] == length
    assert log.records == []


@pytest.mark.parametrize("url", ["/script", "/script-stream"])
def test_pixel_goes_before_the_last_body_end_outside_scripts(url: str) -> None:
    with settings_for(MemoryLog()):
        response = Client().get(url)
    body = response.getvalue()
    tag = TAG_RE.search(body)
    assert tag is not None
    assert tag.start() == SCRIPT_PAGE.rindex(b"</body>")
    assert body[: tag.start()] + body[tag.end() :] == SCRIPT_PAGE


@pytest.mark.parametrize(
    ("url", "cookie_secret", "resigned"),
    [
        pytest.param("/", "new secret", False, id="current"),
        pytest.param("/", SECRET, True, id="older"),
        pytest.param("/vpixel.gif", SECRET, True, id="older-on-the-pixel"),
    ],
)
def test_secret_rotation(url: str, cookie_secret: str, resigned: bool) -> None:
    log = MemoryLog()
    with settings_for(log, MANHATTAN_SECRET=["new secret", SECRET]):
        response = Client().get(url, HTTP_COOKIE=f"manhattan={spec_cookie(VID, cookie_secret)}")
    assert {record[3] for record in log.records} == {VID}
    if resigned:
        assert response.cookies["manhattan"].value == spec_cookie(VID, "new secret")
        assert response.cookies["manhattan"]["httponly"] is True
    else:
        assert "manhattan" not in response.cookies


def test_long_user_agent_and_header_values_are_cut() -> None:
    log = MemoryLog()
    with settings_for(log, MANHATTAN_OPTIONS={"record_headers": ["X-City"]}):
        Client().get("/bare", HTTP_USER_AGENT="U" * 8192, HTTP_X_CITY="C" * 8192)
    [page] = log.records
    assert page[8] == "U" * 512
    assert page[10] == '{"X-City":"' + "C" * 256 + '"}'


def test_page_url_of_a_non_ascii_path_is_webobs() -> None:
    log = MemoryLog()
    with settings_for(log):
        Client().get("/caf%C3%A9/a%20b", {"q": "\u00e9"})
    assert log.records[0][7] == "http://testserver/caf%C3%A9/a%20b?q=%C3%A9"


def test_pixel_counts_only_known_visitors() -> None:
    log = MemoryLog()
    with settings_for(log):
        client = Client()
        fresh = client.get("/vpixel.gif")
        assert log.records == []
        assert "manhattan" in fresh.cookies
        client.cookies["manhattan"] = spec_cookie(VID)
        known = client.get("/vpixel.gif")
    assert known["Content-Type"] == "image/gif"
    assert known["Cache-Control"] == "no-store"
    assert known.content.startswith(b"GIF89a")
    assert "manhattan" not in known.cookies
    assert [record[1:2] + record[3:] for record in log.records] == [["pixel", VID, "0"]]


def test_streaming_response_injected_and_written_at_its_end() -> None:
    log = MemoryLog()
    with settings_for(log):
        response = Client().get("/stream")
        assert kinds(log) == []  # nothing written before the body is sent
        body = b"".join(response.streaming_content)
    assert split_tag(body)[1] == HTML
    assert not response.has_header("Content-Length")
    assert kinds(log) == ["page", "goal"]


@pytest.mark.parametrize(
    "view", [pytest.param(stream, id="sync"), pytest.param(async_stream, id="async")]
)
def test_a_streamed_body_never_read_is_written_when_closed(view: Any) -> None:
    # A HEAD request, or a client gone before the first chunk: the server
    # closes the response without reading its body.
    log = MemoryLog()
    with settings_for(log):
        middleware = ManhattanMiddleware(view)
        response = middleware(RequestFactory().get("/"))
        assert kinds(log) == []
        response.close()
    assert kinds(log)[0] == "page"
    response.close()  # a second close writes nothing more
    assert kinds(log).count("page") == 1


def test_streaming_non_html_written_at_its_end() -> None:
    log = MemoryLog()
    with settings_for(log):
        response = Client().get("/stream.json", HTTP_COOKIE=f"manhattan={spec_cookie(VID)}")
        assert b"".join(response.streaming_content) == b"[1,2]"
    assert log.records == []


def test_async_client_and_async_streaming() -> None:
    log = MemoryLog()

    async def fetch() -> tuple[Any, bytes]:
        response = await AsyncClient().get("/async-stream", {"x": "1"})
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response, body

    with settings_for(log):
        response, body = asyncio.run(fetch())
    assert split_tag(body)[1] == HTML
    assert "manhattan" in response.cookies
    assert kinds(log) == ["page"]
    assert log.records[0][7] == "http://testserver/async-stream?x=1"


def test_async_streaming_non_html_written_at_its_end() -> None:
    log = MemoryLog()

    async def fetch() -> bytes:
        response = await AsyncClient().get("/async-stream.json")
        return b"".join([chunk async for chunk in response.streaming_content])

    with settings_for(log):
        assert asyncio.run(fetch()) == b"[1]"
    assert kinds(log) == ["goal"]


def test_async_client_page_under_a_script_name() -> None:
    log = MemoryLog()

    async def fetch() -> Any:
        return await AsyncClient().get("/bare")

    # Django's ASGI requests take their script name from FORCE_SCRIPT_NAME (or root_path).
    with settings_for(log, FORCE_SCRIPT_NAME="/m\u00fcnchen"):
        response = asyncio.run(fetch())
    assert split_tag(response.content)[0] == "/m%C3%BCnchen/vpixel.gif"
    assert log.records[0][7] == "http://testserver/m%C3%BCnchen/bare"


def test_options_and_count_page() -> None:
    log = MemoryLog()
    calls: list[tuple[Any, Any]] = []

    def rule(request: HttpRequest, response: HttpResponse) -> bool:
        calls.append((request, response))
        return response["Content-Type"] == "application/json"

    options = {
        "cookie_name": "vid",
        "host_map": {"shop.example.com": 4},
        "anonymize_ip": True,
        "count_page": rule,
        "secure": True,
        "max_age": None,
        "path": None,
    }
    with settings_for(log, MANHATTAN_OPTIONS=options):
        client = Client(HTTP_HOST="shop.example.com", REMOTE_ADDR="203.0.113.5")
        response = client.post("/buy")
        client.get("/bare")
    cookie = response.cookies["vid"]
    assert cookie["secure"] is True
    assert cookie["max-age"] == ""
    assert kinds(log) == ["page", "goal"]
    assert log.records[0][4:6] == ["4", "203.0.113.0"]
    assert len(calls) == 2


def test_respect_gpc() -> None:
    log = MemoryLog()
    with settings_for(log, MANHATTAN_OPTIONS={"respect_gpc": True}):
        response = Client().get("/", HTTP_SEC_GPC="1")
    assert b"<img" not in response.content
    assert "manhattan" in response.cookies
    assert log.records == []


def test_view_raising_writes_records_and_propagates() -> None:
    log = MemoryLog()
    with settings_for(log), pytest.raises(RuntimeError, match="broken view"):
        Client(raise_request_exception=True).get("/broken")
    # Django turned the error into its HTML error page: a page view, as over WSGI.
    assert kinds(log) == ["page", "goal"]


def test_get_response_raising_writes_records_and_propagates() -> None:
    # Django wraps every middleware's get_response so that it never raises; a
    # get_response used without that wrapping still gets its records written.
    log = MemoryLog()

    def get_response(request: HttpRequest) -> HttpResponse:
        request.manhattan_visitor.goal("tried")  # type: ignore[attr-defined]
        raise RuntimeError("no wrapper")

    with settings_for(log):
        middleware = ManhattanMiddleware(get_response)
        request = RequestFactory().get("/")
        with pytest.raises(RuntimeError, match="no wrapper"):
            middleware(request)
    assert kinds(log) == ["goal"]


class FailingLog:
    def write(self, records: Sequence[Sequence[str]]) -> None:
        raise OSError("disk full")


def test_failing_log_does_not_fail_the_response(caplog: pytest.LogCaptureFixture) -> None:
    with settings_for(FailingLog()), caplog.at_level(logging.ERROR, logger="manhattan"):
        response = Client().get("/")
    assert response.status_code == 200
    assert "could not write 2 records" in caplog.text


def test_failing_unbuffered_log_does_not_fail_the_view(caplog: pytest.LogCaptureFixture) -> None:
    options = {"buffer_writes": False}
    with (
        settings_for(FailingLog(), MANHATTAN_OPTIONS=options),
        caplog.at_level(logging.ERROR, logger="manhattan"),
    ):
        client = Client()
        responses = [client.get("/goal") for _ in range(5)]
    assert [response.status_code for response in responses] == [200] * 5
    [entry] = caplog.records
    assert "could not write 1 records" in entry.getMessage()


def test_log_path_setting(tmp_path: Path) -> None:
    with settings_for(None, MANHATTAN_LOG_PATH=str(tmp_path / "log")):
        Client().get("/")
    records = [record for record, _ in TimeRotatingLog(tmp_path / "log").process()]
    assert [record[1] for record in records] == ["page", "split"]


def test_log_as_a_dotted_path() -> None:
    LOG.records.clear()
    with settings_for(f"{__name__}.LOG"):
        Client().get("/bare")
    assert kinds(LOG) == ["page"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"MANHATTAN_SECRET": None}, "MANHATTAN_SECRET", id="no-secret"),
        pytest.param({"MANHATTAN_SECRET": ""}, "MANHATTAN_SECRET", id="empty-secret"),
        pytest.param({"MANHATTAN_SECRET": 42}, "MANHATTAN_SECRET", id="int-secret"),
        pytest.param({"MANHATTAN_SECRET": []}, "MANHATTAN_SECRET: secret", id="no-secrets"),
        pytest.param(
            {"MANHATTAN_SECRET": ["new", ""]},
            r"MANHATTAN_SECRET: secret\[1\] must not be empty",
            id="empty-in-rotation",
        ),
        pytest.param({"MANHATTAN_LOG": None}, "MANHATTAN_LOG_PATH", id="no-log"),
        pytest.param({"MANHATTAN_LOG_PATH": "/tmp/log"}, "not both", id="log-and-path"),
        pytest.param(
            {"MANHATTAN_LOG": None, "MANHATTAN_LOG_PATH": "/tmp/"},
            "MANHATTAN_LOG_PATH: log path must name a file",
            id="path-is-a-directory",
        ),
        pytest.param(
            {"MANHATTAN_LOG": "no.such.module.LOG"}, "MANHATTAN_LOG: cannot import", id="import"
        ),
        pytest.param({"MANHATTAN_LOG": object()}, "write", id="not-a-log"),
        pytest.param({"MANHATTAN_OPTIONS": ["x"]}, "must be a dict", id="options-list"),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"colour": 1}},
            "MANHATTAN_OPTIONS: unknown option 'colour'; the options are anonymize_ip, ",
            id="unknown",
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"anonymise_ip": True}},
            r"MANHATTAN_OPTIONS: unknown option 'anonymise_ip' \(did you mean 'anonymize_ip'\?\)$",
            id="typo",
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"secure": "false"}},
            "MANHATTAN_OPTIONS: secure must be True or False, not 'false'",
            id="flag-from-the-environment",
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"offload": True}},
            "unknown option 'offload'",
            id="asgi-only",
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"samesite": "Sometimes"}}, "samesite", id="bad-samesite"
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"visitor_class": "myapp.Visitor"}},
            "visitor_class must be Visitor or a subclass",
            id="visitor-class",
        ),
        pytest.param(
            {"MANHATTAN_OPTIONS": {"count_page": 1}},
            r"count_page must be a callable\(request, response\)",
            id="count-page",
        ),
    ],
)
def test_bad_settings_are_improperly_configured(overrides: dict[str, Any], message: str) -> None:
    with (
        settings_for(MemoryLog(), **overrides),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        ManhattanMiddleware(bare_page)


def test_every_option_is_read_from_the_settings() -> None:
    with settings_for(MemoryLog(), MANHATTAN_OPTIONS=NON_DEFAULT):
        middleware = ManhattanMiddleware(bare_page)
    assert (middleware.cookie_name, middleware.visitor_class) == ("mh", OwnVisitor)
