"""What the command line says about itself: --version, flags without a value in every --help,
shell completion (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import click
import pytest
import typer.main
from typer.testing import CliRunner

from hpcsched.cli import app

runner = CliRunner()


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command of the app, groups included (``()`` is the app itself)."""
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*path, name))
    return found


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"hpcsched {version('hpcsched')}\n"
    done = subprocess.run(
        [sys.executable, "-m", "hpcsched.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0 and done.stdout == f"hpcsched {version('hpcsched')}\n"


@pytest.mark.parametrize("terminal", [True, False])
def test_no_help_shows_a_value_type_after_a_flag(
    terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command's --help, drawn by Rich for a terminal and as plain text: a flag such as
    --json, --strict or --install-completion is shown without <bool> or BOOLEAN."""
    if not terminal:
        monkeypatch.setenv("_TYPER_FORCE_DISABLE_TERMINAL", "1")
        monkeypatch.setenv("TERM", "dumb")
    paths = _commands(typer.main.get_command(app))
    assert len(paths) > 25 and ("plan", "tools") in paths and ("campaign", "materials") in paths
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], terminal_width=120)
        assert result.exit_code == 0, (path, result.stderr)
        for word in ("BOOLEAN", "<bool>", "<BOOL>"):
            assert word not in result.stdout, (path, word)
    top = runner.invoke(app, ["--help"], terminal_width=120).stdout
    for option in ("--version", "--install-completion", "--show-completion"):
        assert option in top, option


def test_show_completion_prints_a_script_for_hpcsched() -> None:
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "hpcsched.cli", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "complete -o default -F _hpcsched_completion hpcsched" in done.stdout
    completing = {**os.environ, "_HPCSCHED_COMPLETE": "complete_bash", "COMP_CWORD": "4"}
    completing["COMP_WORDS"] = "hpcsched plan tools spec.yaml --minim"
    done = subprocess.run(
        [sys.executable, "-m", "hpcsched.cli"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=completing,
    )
    assert done.stdout.split() == ["--minimize"]


def test_every_help_paragraph_flows_as_one_text() -> None:
    """Typer joins the lines of a docstring's first paragraph only; the others were drawn with
    their source line breaks and wrapped again by Rich ("folder, stderr" / "and stdout tails")."""
    from hpcsched.cli.options import reflow

    assert reflow("Short.\n\nOne paragraph\nin two lines.\n\n  indented\n  kept") == (
        "Short.\n\nOne paragraph in two lines.\n\n  indented\n  kept"
    )
    root = typer.main.get_command(app)
    seen = 0
    with click.Context(root) as ctx:
        stack: list[tuple[Any, click.Context]] = [(root, ctx)]
        while stack:
            group, parent = stack.pop()
            for name in getattr(group, "commands", {}):
                command = group.get_command(parent, name)
                for paragraph in (command.help or "").split("\n\n")[1:]:
                    lines = paragraph.splitlines()
                    assert len(lines) == 1 or any(
                        line.startswith(("\b", " ", "-", "*", "$")) for line in lines
                    ), (name, paragraph)
                    seen += 1
                stack.append((command, click.Context(command, parent=parent)))
    assert seen > 10
