"""``python -m manhattan.logserver``: the same as ``manhattan-log-server``."""

import sys

from manhattan.logserver.cli import main

if __name__ == "__main__":
    sys.exit(main())
