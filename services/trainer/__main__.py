"""`python -m services.trainer` runs the same CLI as `attune trainer`."""

from services.trainer.cli import app

app(prog_name="attune trainer")
