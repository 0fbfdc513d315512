"""``python -m fakes.cloudrun --port N ...`` (see ``cli.py``)."""

import sys

from fakes.cloudrun.cli import main

if __name__ == "__main__":
    sys.exit(main())
