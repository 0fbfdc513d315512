"""``python -m fakes.numerai --data-dir DIR [--port 0] ...`` (see ``cli.py``)."""

import sys

from fakes.numerai.cli import main

if __name__ == "__main__":
    sys.exit(main())
