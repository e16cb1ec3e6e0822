"""The one Typer application behind the ``yima-dev`` console script.

It lives in its own module so that every command module can register on it without import cycles:
a module does ``from .app import app`` and decorates its functions with ``@app.command(...)``, and
``cli.py`` (the console-script target) imports each such module once.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="yima developer stack: local Kafka + MongoDB-protocol server, topics, and the platform.",
)
