"""The ``marches`` command line: the only code that prints or exits.

Each command lives in the module of its concern; importing this package registers them all.
"""

from marches.cli import check, data, publishing, sirene  # noqa: F401  (they register their commands)
from marches.cli.base import cli

__all__ = ["cli"]
