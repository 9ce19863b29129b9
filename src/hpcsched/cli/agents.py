"""hpcsched agents run / log: the HARP closed loop (events on the bus -> rules -> actions), and
what it did, each action with the event that caused it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from hpcsched.cli.errors import fail
from hpcsched.cli.options import JsonOpt, flag, group

agents_app = group(
    "Long-lived agents: consume events from the bus, act by rules, journal each action.",
    no_args_is_help=True,
)


def _site(site: Path | None, rules_file: Path) -> tuple[dict[str, float], int | None]:
    """The partitions' MaxTime and ``max_chain_parts`` of the rules' ``site:`` (none: Slurm's
    MaxTime, the default chain length)."""
    if site is None:
        return {}, None
    from hpcsched.advise.site import SiteError, load_site

    path = site if site.is_absolute() else rules_file.parent / site
    try:
        loaded = load_site(path)
    except SiteError as exc:
        fail(f"{exc} (the site: of {rules_file})")
    times = {name: p.max_walltime for name, p in loaded.partitions.items()}
    return times, loaded.max_chain_parts


@agents_app.command()
def run(
    rules_file: Annotated[Path, typer.Argument(metavar="RULES.yaml", help="the agent's rules")],
    bus: Annotated[
        str | None,
        typer.Option(
            metavar="nats://HOST:PORT",
            help="the broker (default: $HPCSCHED_BUS_URL, else nats://127.0.0.1:4222)",
        ),
    ] = None,
    state: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="the agent's folder: its action journal (default: "
            "$XDG_STATE_HOME/hpcsched/agents/GROUP)",
        ),
    ] = None,
    once: Annotated[
        bool, flag("--once", help="act on what the bus holds now, then exit (idle 1 s)")
    ] = False,
    until_idle: Annotated[
        float | None,
        typer.Option(
            "--until-idle", metavar="SECONDS", min=0.1, help="exit after SECONDS without an event"
        ),
    ] = None,
) -> None:
    """Consume events as a member of the rules' consumer group and act on them by rule.

    Each action is journaled with the event that caused it before the event is acknowledged,
    so after a kill -9 and a restart no action is lost and none is done twice. Runs until
    Ctrl-C unless --once or --until-idle."""
    from hpcsched.agents.agent import run_agent, state_folder
    from hpcsched.agents.journal import JournalError
    from hpcsched.agents.rules import RulesError, load_rules
    from hpcsched.bus.address import AddressError
    from hpcsched.bus.connection import BusError
    from hpcsched.runtime.lock import RunLockedError
    from hpcsched.slurm.adapter import SlurmError

    if once and until_idle is not None:
        fail("--once and --until-idle: give one")
    try:
        rules = load_rules(rules_file)
    except RulesError as exc:
        fail(str(exc))
    server = bus or os.environ.get("HPCSCHED_BUS_URL") or "nats://127.0.0.1:4222"
    folder = state_folder(state, rules.group)
    max_times, max_chain_parts = _site(rules.site, rules_file)
    started = time.monotonic()

    def say(line: str) -> None:
        typer.echo(f"hpcsched agents: {line}", err=True)

    try:
        agent = run_agent(
            rules,
            server,
            folder,
            until_idle=1.0 if once else until_idle,
            say=say,
            max_times=max_times,
            max_chain_parts=max_chain_parts,
        )
    except AddressError as exc:
        fail(f"--bus {exc}")
    except BusError as exc:
        fail(f"{server}: {exc}; start one with 'hpcsched bus serve'")
    except RunLockedError as exc:  # another agent owns the folder
        fail(f"{exc}".replace("--run-dir", "--state"))
    except JournalError as exc:
        fail(str(exc))
    except SlurmError as exc:  # the world could not be checked: stop rather than act twice
        fail(f"{exc}; is slurmctld up? (the agent stopped before acting on it)")
    except KeyboardInterrupt:
        return
    elapsed = time.monotonic() - started
    say(f"{agent.stats.line()} in {elapsed:.1f} s; journal {folder}")


def _describe(entry: dict[str, Any]) -> str:
    event, result, plan = entry["event"], entry["result"] or {}, entry["plan"]
    cause = f"{event.get('event')} {event.get('event_id')}"
    if "job_id" in event:
        cause += f" job {event['job_id']} {event.get('state', '')}".rstrip()
    what = entry["action"]
    if "made" in result:
        what += f" -> job {result['made']}"
    if plan.get("new_limit"):
        what += f" --time {plan['new_limit'] / 60:g} min"
    if "model" in result:
        what += f" -> {result['model']} ({result.get('jobs')} jobs)"
    if plan.get("pieces"):
        what += f": {plan['pieces']} pieces of {plan['piece_limit'] / 60:g} min, afterok"
    if "user" in result:
        what += f" user {result['user']} ({result['jobs']} jobs)"
    if "error" in result:
        what += f": {result['error']}"
    if "reason" in result:
        what += f" ({result['reason']})"
    if plan.get("decided_by") == "llm":
        what += f" [the model: {plan.get('llm_reason') or plan.get('llm_choice')}]"
    elif plan.get("llm_fallback"):
        what += f" [the rules: the model's reply not used ({plan['llm_fallback']})]"
    return f"{entry['status']:<9} {entry['rule']}: {what}  <- {cause}"


def _decider_line(counts: dict[str, int]) -> str | None:
    """How the events were decided: by the model, by the rules after each kind of fallback."""
    if not counts:
        return None
    fallbacks = {k.split(":", 1)[1]: n for k, n in counts.items() if k.startswith("fallback:")}
    kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(fallbacks.items()))
    line = f"decider: {counts.get('llm', 0):,} event(s) decided by the model"
    line += f", {sum(fallbacks.values()):,} by the rules after a fallback"
    return line + (f" ({kinds})" if kinds else "")


@agents_app.command()
def log(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="an agent's --state folder")],
    as_json: JsonOpt = False,
) -> None:
    """What an agent did, oldest first: each action, its result and the event that caused it."""
    from hpcsched.agents.journal import JOURNAL_NAME, ActionJournal, JournalError

    if not (folder / JOURNAL_NAME).is_file():
        fail(f"{folder}: no {JOURNAL_NAME} there; give the --state folder of 'agents run'")
    try:
        journal = ActionJournal(folder)
        entries = list(journal.entries())
        decided = _decider_line(journal.decider_counts())
        journal.close()
    except JournalError as exc:
        fail(str(exc))
    for entry in entries:
        typer.echo(json.dumps(entry, default=str) if as_json else _describe(entry))
    if not as_json:
        typer.echo(f"{len(entries):,} action(s) in {folder}", err=True)
    if decided is not None:
        typer.echo(decided, err=True)


def register(app: typer.Typer) -> None:
    """Add ``hpcsched agents`` to ``app``."""
    app.add_typer(agents_app, name="agents")
