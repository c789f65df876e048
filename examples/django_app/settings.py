"""Settings of the Django example: Manhattan's part is the ``MANHATTAN_*`` block."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "change me: an example secret key")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
ROOT_URLCONF = "examples.django_app.urls"
USE_TZ = True

MIDDLEWARE = [
    # First, so that it sees the response every other middleware made.
    "manhattan.integrations.django.ManhattanMiddleware",
    "django.middleware.common.CommonMiddleware",
]

# --- Manhattan ---
MANHATTAN_SECRET = os.environ.get("MANHATTAN_SECRET", "change me: an example secret")
MANHATTAN_LOG_PATH = os.environ.get("MANHATTAN_LOG_PATH") or str(
    Path(tempfile.gettempdir()) / "manhattan-examples" / "django" / "log"
)
MANHATTAN_OPTIONS = {"record_headers": ["Accept-Language"]}
