"""`python -m services.demo`: what `make demo` runs."""

import typer

from services.demo.run import main

typer.run(main)
