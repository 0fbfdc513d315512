"""``python -m ops <verb>``: see ops/cli.py."""

import sys

from ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
