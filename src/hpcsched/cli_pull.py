"""hpcsched trace pull."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``pull`` to the ``trace`` group (``app`` is that group)."""
