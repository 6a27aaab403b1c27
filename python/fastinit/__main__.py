"""``python -m fastinit``: the command line, as the ``fastinit`` command runs it (checkpoint,
verify, --version), for environments where the console script is not on PATH."""

import sys

from .checkpoint.cli import main

if __name__ == "__main__":
    sys.exit(main())
