"""``yima-insight serve|api|consume|relay-outbox|replay|check``"""

from __future__ import annotations

import asyncio
import json

import typer
from yima_kit.cli import service_cli

from .app import create_app
from .config import InsightSettings

app = service_cli("insight", create_app, lambda: InsightSettings().http_port)


@app.command()
def replay(
    commit_offsets: bool = typer.Option(True, help="move the live consumer group to where the replay stopped"),
    events_per_slice: int = typer.Option(200_000, min=1, help="messages a slice of cases holds in memory at once "
                                         "(~2.5 KB each parsed; the topics are read once into slice files)"),
    workers: int = typer.Option(2, min=1, help="processes reading the topics, folding the slices and spreading "
                                "the counters (1: all in this process)"),
) -> None:
    """Rebuild the facts and counters from the topics (earliest offset, a fresh group), one slice of cases at a
    time. Stop the consume role first: the rebuilt state is swapped in, and the live group continues from where
    the replay stopped. Needs free disk for the raw messages (~0.5 KB each) in the temporary directory."""
    from .adapters.rebuild import replay as run

    result = asyncio.run(run(InsightSettings(), commit_offsets=commit_offsets, events_per_slice=events_per_slice,
                             workers=workers))
    typer.echo(json.dumps(result, ensure_ascii=False))


@app.command()
def check(unit: str = typer.Option(None, help="compare only this unit's counters (default: all)"),
          events_per_slice: int = typer.Option(200_000, min=1, help="messages held in memory at once"),
          workers: int = typer.Option(2, min=1, help="processes reading the topics and folding the "
                                       "slices (1: all in this process)")
          ) -> None:
    """Recount every case from the topics and report any difference from the stored counters (exit 1)."""
    from .adapters.rebuild import check as run

    result = asyncio.run(run(InsightSettings(), scope=unit, events_per_slice=events_per_slice, workers=workers))
    typer.echo(json.dumps(result, ensure_ascii=False, indent=1))
    raise typer.Exit(0 if result["ok"] else 1)
