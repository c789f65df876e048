"""The Django example, through Django's test Client with the example's settings."""

from __future__ import annotations

from pathlib import Path

from django.test import Client, override_settings
from examples.django_app import settings as example

from tests.examples.reading import check_visit, read_log
from tests.integrations.django_setup import configure_django


def test_django_example_records_split_goal_and_pixel(tmp_path: Path) -> None:
    configure_django()
    log_path = tmp_path / "log"
    with override_settings(
        ROOT_URLCONF=example.ROOT_URLCONF,
        MIDDLEWARE=example.MIDDLEWARE,
        MANHATTAN_SECRET=example.MANHATTAN_SECRET,
        MANHATTAN_LOG_PATH=str(log_path),
        MANHATTAN_OPTIONS=example.MANHATTAN_OPTIONS,
    ):
        client = Client(HTTP_ACCEPT_LANGUAGE="de-CH")
        home = client.get("/")
        cookie = home.cookies["manhattan"].value
        signup = client.post("/signup")
        pixel = client.get("/vpixel.gif")
        client.get("/thanks")
    assert home.status_code == 200
    assert signup.status_code == 302
    assert pixel["Content-Type"] == "image/gif"
    # CommonMiddleware (inside Manhattan's) set the length; it was fixed after injection.
    assert home["Content-Length"] == str(len(home.content))
    records = read_log(log_path)
    check_visit(records, cookie, example.MANHATTAN_SECRET, home.content)
    assert [record[1] for record in records] == ["page", "split", "goal", "pixel", "page"]
    assert records[0][10] == '{"Accept-Language":"de-CH"}'
