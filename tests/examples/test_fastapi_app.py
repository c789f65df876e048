"""The FastAPI example, through Starlette's TestClient."""

from __future__ import annotations

import warnings
from pathlib import Path

import examples.fastapi_app

from tests.examples.reading import check_visit, read_log

with warnings.catch_warnings():
    # Starlette's testclient touches an alias anyio 4.16 deprecates, at import only.
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient

SECRET = "change me: an example secret"


def test_fastapi_example_records_split_goal_and_pixel(tmp_path: Path) -> None:
    client = TestClient(examples.fastapi_app.create_app(tmp_path / "log"))
    home = client.get("/")
    assert home.status_code == 200
    cookie = client.cookies["manhattan"]
    signup = client.post("/signup", follow_redirects=False)
    assert signup.status_code == 303
    assert client.get("/vpixel.gif").headers["content-type"] == "image/gif"
    price = client.get("/api/price").json()
    records = read_log(tmp_path / "log")
    check_visit(records, cookie, SECRET, home.content)
    kinds = [record[1] for record in records]
    assert kinds == ["page", "split", "goal", "pixel", "split"]
    assert records[-1][5:7] == ["discount", str(price["price"] == 9.0)]


def test_fastapi_example_module_app_exists() -> None:
    assert examples.fastapi_app.app.title == "FastAPI"
