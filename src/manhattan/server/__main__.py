"""``python -m manhattan.server``: the same as ``manhattan-server``."""

import sys

from manhattan.server.cli import main

if __name__ == "__main__":
    sys.exit(main())
