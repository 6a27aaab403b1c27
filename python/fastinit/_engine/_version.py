"""The package's version, in the lowest layer so that every layer can name it (the CLI's
``--version``); pyproject.toml holds the same string (tests/package/test_first_contact.py)."""

__version__ = "0.1.0"
