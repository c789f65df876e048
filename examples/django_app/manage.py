"""Run the Django example: ``python examples/django_app/manage.py runserver``.

(The signup form posts without a CSRF token: the example installs no apps
and no CSRF middleware, to stay minimal.) Records go to a ``TimeRotatingLog``
at ``$MANHATTAN_LOG_PATH`` (default: ``manhattan-examples/django/log`` in the
temp directory); see ``settings.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    # The repository root, so that "examples.django_app" is importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
