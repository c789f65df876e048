"""The WSGI middleware: ``ManhattanMiddleware(app, log, secret)``."""

from manhattan.middleware.wsgi import ManhattanMiddleware

__all__ = ["ManhattanMiddleware"]
