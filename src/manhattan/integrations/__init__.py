"""Framework integrations that need code of their own (Django).

Flask needs none (wrap ``app.wsgi_app`` in :class:`manhattan.middleware.ManhattanMiddleware`)
and FastAPI/Starlette use :class:`manhattan.asgi.ManhattanMiddleware`.
"""
