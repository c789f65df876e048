"""What the WSGI and ASGI adapters share, with no I/O: the signed cookie,
the rules for what counts as a page view, host-to-site mapping, IP
anonymization and pixel injection into streamed HTML.

Internal: not part of the public API (see :mod:`manhattan`).
"""
