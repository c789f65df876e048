"""A tiny WSGI shop, wrapped in Manhattan, with two declared experiments and valued goals."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable
from typing import Any

from webob import Request, Response

from manhattan.experiments import Experiment
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import CURRENCY, SUM, Visitor

PRODUCTS = {"1": ("Blue Widget", 12.50), "2": ("Red Gadget", 30.00), "3": ("Green Gizmo", 7.25)}
BUTTON_TEST = "Checkout Button"
BUTTONS = ["green", "orange"]
BANNER_TEST = "Free Shipping Banner"
SECRET = "demo secret, not for production"

# Each test declares what it is judged on: the analysis, the dashboard and
# the report read the plan from the split records, with no other setup.
BUTTON = Experiment(
    BUTTON_TEST,
    BUTTONS,
    goal="Added To Cart",
    guardrails=["Purchased"],
    minimum_effect=0.2,
)
BANNER = Experiment(BANNER_TEST, {"shown": 1, "hidden": 3}, goal="Purchased", minimum_effect=0.2)


def page(title: str, body: str) -> Response:
    return Response(
        f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        content_type="text/html",
    )


def shop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    request = Request(environ)
    visitor: Visitor = environ["manhattan.visitor"]
    button = visitor.split(BUTTON)
    banner = visitor.split(BANNER)
    path = request.path_info
    if path == "/":
        links = "".join(
            f'<li><a href="/product/{pid}">{html.escape(name)}</a></li>'
            for pid, (name, _) in PRODUCTS.items()
        )
        extra = "<p>Free shipping today!</p>" if banner == "shown" else ""
        response = page("Demo shop", f"{extra}<ul>{links}</ul>")
    elif path.startswith("/product/") and path[9:] in PRODUCTS:
        name, price = PRODUCTS[path[9:]]
        visitor.goal("Viewed Product")
        response = page(
            name,
            f'<p>${price:.2f}</p><form method="post" action="/cart/{path[9:]}">'
            f'<button class="{button}">Add to cart</button></form>',
        )
    elif path.startswith("/cart/") and path[6:] in PRODUCTS and request.method == "POST":
        _, price = PRODUCTS[path[6:]]
        visitor.goal("Added To Cart", value=price, value_type=SUM, value_format=CURRENCY)
        response = page("Cart", '<a href="/checkout">Check out</a>')
    elif path == "/checkout":
        visitor.goal("Began Checkout")
        response = page(
            "Checkout", '<form method="post" action="/buy"><button>Buy</button></form>'
        )
    elif path == "/buy" and request.method == "POST":
        total = float(request.params.get("total", "20"))
        visitor.goal("Purchased", value=total, value_type=SUM, value_format=CURRENCY)
        response = page("Thank you", "<p>Order placed.</p>")
    elif path == "/about":
        response = page("About us", "<p>Widgets since 2014.</p>")
    elif path == "/api/stock":
        response = Response(json_body={"in_stock": True})
    else:
        response = page("Not found", "<p>No such page.</p>")
        response.status = 404
    return response(environ, start_response)


class DemoVisitor(Visitor):
    """A shop visitor living ``days_ago`` days in the past, so that the demo
    can play a week of traffic in seconds (the dashboard's daily charts then
    have a week to show). A real site has no need of this."""

    days_ago = 0

    def timestamp(self) -> float:
        return time.time() - DemoVisitor.days_ago * 86_400


def make_app(log_path: str, secret: str = SECRET) -> ManhattanMiddleware:
    """The shop wrapped in the middleware, logging to hourly files at ``log_path``."""
    return ManhattanMiddleware(
        shop,
        TimeRotatingLog(log_path),
        secret,
        host_map={"127.0.0.1": 1, "localhost": 2},
        visitor_class=DemoVisitor,
    )
