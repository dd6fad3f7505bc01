"""``python -m marches.cli``."""

from marches.cli import cli

cli()
