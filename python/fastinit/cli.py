"""The command line's old path: ``python -m fastinit.cli`` runs :mod:`fastinit.checkpoint.cli`
(as the ``fastinit`` command does), and ``import fastinit.cli`` gives that module itself.

A file rather than an entry of fastinit/__init__.py's table of old paths: ``python -m`` needs
one, and must not find the name in ``sys.modules`` before it runs it.
"""

import sys

from .checkpoint import cli as _cli

if __name__ == "__main__":
    sys.exit(_cli.main())
else:
    sys.modules[__name__] = _cli
