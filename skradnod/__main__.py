"""``python -m skradnod``: the same as the ``skradnod`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
