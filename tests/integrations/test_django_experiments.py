"""The Django middleware's QA links and excluded requests."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import path

from manhattan.experiments import force_link
from manhattan.experiments.links import LinkSigner
from manhattan.integrations.django import ManhattanMiddleware
from manhattan.log.memory import MemoryLog
from tests.asgi.harness import HTML, SECRET, VID, spec_cookie
from tests.integrations.django_setup import configure_django
from tests.middleware.test_wsgi_experiments import COLOURS, FORCED, OTHER_TEST, TEST, natural


def shop(request: HttpRequest) -> HttpResponse:
    visitor = request.manhattan_visitor  # type: ignore[attr-defined]
    colour = visitor.split(TEST, COLOURS)
    visitor.split(OTHER_TEST, ["shown", "hidden"])
    visitor.goal("signed up")
    return HttpResponse(HTML.replace(b"Hi", colour.encode()))


urlpatterns = [path("", shop), path("other", shop)]


@pytest.fixture(autouse=True)
def _django() -> None:
    configure_django()


def settings_for(log: MemoryLog, **options: Any) -> override_settings:
    return override_settings(
        MIDDLEWARE=["manhattan.integrations.django.ManhattanMiddleware"],
        ROOT_URLCONF=__name__,
        MANHATTAN_SECRET=SECRET,
        MANHATTAN_LOG=log,
        MANHATTAN_OPTIONS=options,
    )


def browser() -> Client:
    client = Client()
    client.cookies["manhattan"] = spec_cookie(VID)
    return client


def colour_of(response: HttpResponse) -> str:
    return response.content.partition(b"<p>")[2].partition(b"</p>")[0].decode()


def split_tests(log: MemoryLog) -> list[str]:
    return [record[5] for record in log.records if record[1] == "split"]


def test_a_qa_link_shows_its_population_for_the_session() -> None:
    log = MemoryLog()
    with settings_for(log):
        client = browser()
        first = client.get(force_link("/", SECRET, TEST, FORCED))
        later = client.get("/other")
    assert (colour_of(first), colour_of(later)) == (FORCED, FORCED)
    assert [record[1] for record in log.records] == ["page", "split", "goal"] * 2
    assert split_tests(log) == [OTHER_TEST, OTHER_TEST]
    cookie = first.cookies["manhattan_qa"]
    assert cookie.value == LinkSigner(SECRET).sign(TEST, FORCED)
    assert (cookie["max-age"], cookie["expires"]) == ("", "")  # a session cookie
    assert (cookie["httponly"], cookie["samesite"], cookie["path"]) == (True, "Lax", "/")
    assert "manhattan_qa" not in later.cookies
    assert "manhattan" not in first.cookies


def test_a_tampered_link_is_ignored() -> None:
    log = MemoryLog()
    link = force_link("/", SECRET, TEST, FORCED)
    with settings_for(log):
        response = browser().get(link[:-1] + ("A" if link[-1] != "A" else "B"))
    assert colour_of(response) == natural(TEST, COLOURS)
    assert "manhattan_qa" not in response.cookies
    assert split_tests(log) == [TEST, OTHER_TEST]


def test_a_qa_link_on_the_pixel_sets_the_cookie_too() -> None:
    log = MemoryLog()
    with settings_for(log):
        response = browser().get(force_link("/vpixel.gif", SECRET, TEST, FORCED))
    assert response["Content-Type"] == "image/gif"
    assert response.cookies["manhattan_qa"].value == LinkSigner(SECRET).sign(TEST, FORCED)
    assert [record[1] for record in log.records] == ["pixel"]


def staff(request: HttpRequest) -> bool:
    return request.headers.get("X-Staff") == "1"


@pytest.mark.parametrize(
    ("options", "extra", "recorded"),
    [
        pytest.param({"exclude": staff}, {"HTTP_X_STAFF": "1"}, False, id="callable"),
        pytest.param({"exclude": staff}, {}, True, id="callable-no"),
        pytest.param(
            {"exclude": ["10.0.0.0/8"]}, {"REMOTE_ADDR": "10.0.0.9"}, False, id="network"
        ),
        pytest.param(
            {"exclude": ["10.0.0.0/8"]}, {"REMOTE_ADDR": "192.0.2.9"}, True, id="outside"
        ),
    ],
)
def test_excluded_requests_are_served_and_record_nothing(
    options: dict[str, Any], extra: dict[str, str], recorded: bool
) -> None:
    log = MemoryLog()
    with settings_for(log, **options):
        response = browser().get("/", **extra)
    assert response.status_code == 200
    assert (b"<img" in response.content) is recorded
    assert [record[1] for record in log.records] == (
        ["page", "split", "split", "goal"] if recorded else []
    )


def test_bad_exclude_is_improperly_configured() -> None:
    with (
        settings_for(MemoryLog(), exclude=["10.0.0.0/33"]),
        pytest.raises(
            ImproperlyConfigured,
            match=r"^MANHATTAN_OPTIONS: exclude\[0\]: '10.0.0.0/33' is not an IP address",
        ),
    ):
        ManhattanMiddleware(shop)


def test_bad_exclude_type_names_the_request_signature() -> None:
    with (
        settings_for(MemoryLog(), exclude=3),
        pytest.raises(
            ImproperlyConfigured,
            match=r"exclude must be a callable\(request: HttpRequest\) -> bool or a list",
        ),
    ):
        ManhattanMiddleware(shop)
