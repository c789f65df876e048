"""The ASGI middleware: ``ManhattanMiddleware(app, log, secret)`` for Starlette,
FastAPI and any ASGI 3 application."""

from manhattan.asgi.middleware import SCOPE_KEY, STATE_KEY, CountPage, ManhattanMiddleware

__all__ = ["SCOPE_KEY", "STATE_KEY", "CountPage", "ManhattanMiddleware"]
