"""Django settings for the tests, configured once per process.

``django.conf.settings.configure()`` can run only once, so it holds only what
every Django test shares (no middleware, no Manhattan settings); each test
brings its own with ``override_settings``, which is undone after it.
"""

from __future__ import annotations

import django
from django.conf import settings


def configure_django() -> None:
    """Configure Django's settings for tests, unless that was done already."""
    if settings.configured:
        return
    settings.configure(
        DEBUG=False,
        SECRET_KEY="tests-only",
        ALLOWED_HOSTS=["testserver", "shop.example.com", "localhost"],
        INSTALLED_APPS=[],
        MIDDLEWARE=[],
        ROOT_URLCONF="tests.integrations.test_django",
        DATABASES={},
        USE_TZ=True,
    )
    django.setup()
