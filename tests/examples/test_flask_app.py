"""The Flask example, through Flask's test client."""

from __future__ import annotations

from pathlib import Path

import examples.flask_app

from tests.examples.reading import check_visit, read_log

SECRET = "change me: an example secret"


def test_flask_example_records_split_goal_and_pixel(tmp_path: Path) -> None:
    app = examples.flask_app.create_app(tmp_path / "log")
    client = app.test_client()
    # buffered: the client reads and closes each response as a WSGI server
    # does (Manhattan writes a streamed response's records when it is closed).
    home = client.get("/", buffered=True)
    assert home.status_code == 200
    cookie = client.get_cookie("manhattan")
    assert cookie is not None
    signup = client.post("/signup", buffered=True)
    assert signup.status_code == 302
    assert client.get("/vpixel.gif").content_type == "image/gif"
    again = client.get("/", buffered=True)
    assert again.data == home.data  # the same population on every visit
    records = read_log(tmp_path / "log")
    check_visit(records, cookie.value, SECRET, home.data)
    assert [record[1] for record in records] == ["page", "split", "goal", "pixel", "page", "split"]


def test_flask_example_module_app_exists() -> None:
    assert examples.flask_app.app.name == "examples.flask_app"
