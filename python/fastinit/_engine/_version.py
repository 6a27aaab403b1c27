"""Which values a seed gives: the package's version and the stream contract's.

``STREAM_VERSION`` numbers the contract of docs/stream.md (section 5 says what may never change
within a version). Two fastinit releases with the same ``STREAM_VERSION`` give the same bits for
the same (seed, stream, index, distribution, parameters, dtype); a release that would change any
of them raises the number. Checkpoints record both numbers in their metadata, so ``verify`` can
tell a changed contract from a changed file. It sits in the lowest layer so that every layer
can name it (the CLI's ``--version``); pyproject.toml holds the same version string
(tests/package/test_first_contact.py).
"""

from __future__ import annotations

__version__ = "0.1.0"

#: the stream contract this code implements (docs/stream.md, section 5)
STREAM_VERSION = 1

__all__ = ["STREAM_VERSION", "__version__"]
