"""Views of the Django example."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.http import require_GET, require_POST

from manhattan.visitor import Visitor

PAGE = """<!doctype html>
<html><head><title>Widgets</title></head>
<body>
<h1>Blue widgets</h1>
<form method="post" action="/signup">
  <button class="{colour}">Sign up</button>
</form>
</body></html>
"""


def visitor(request: HttpRequest) -> Visitor:
    """The visitor of ``request`` (set by the middleware)."""
    tracked: Visitor = request.manhattan_visitor  # type: ignore[attr-defined]
    return tracked


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    colour = visitor(request).split("signup button colour", ["red", "blue"])
    return HttpResponse(PAGE.format(colour=colour))


@require_POST
def signup(request: HttpRequest) -> HttpResponse:
    visitor(request).goal("signed up")
    return HttpResponseRedirect("/thanks")


@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    return HttpResponse("<!doctype html><html><body><p>Thanks!</p></body></html>")
