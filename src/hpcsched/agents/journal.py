"""The action journal: what an agent decided to do, why, and what came of it (SQLite, WAL).

Exactly-once *effects* over the bus's at-least-once delivery. Each action has a key, the causing
event's ``event_id`` and the rule's name; the agent writes the **intent** (the key, the causing
event, the plan) before acting and the **result** after, and acknowledges the bus message only
once the result is written. So after a ``kill -9``:

- a redelivered event whose key has a result is acknowledged without acting;
- an intent without a result is an action that may or may not have happened: the agent checks
  the world (the adapter's ``check``: the job tagged with the key in ``squeue``, the line in the
  ledger) before doing it again.

WAL with ``synchronous=NORMAL`` survives the death of the process (a committed transaction is in
the WAL file); a power loss may lose the last transactions, which is then the same as a crash
before them (https://www.sqlite.org/wal.html). One agent owns a state folder at a time
(:class:`hpcsched.runtime.lock.RunLock`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

JOURNAL_NAME: Final = "actions.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    key TEXT PRIMARY KEY,        -- event_id '/' rule: the idempotency key
    event_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    action TEXT NOT NULL,
    seq INTEGER,                 -- the causing event's stream sequence
    event TEXT NOT NULL,         -- the causing event (JSON, as published)
    plan TEXT NOT NULL,          -- what was decided (JSON)
    intent_at REAL NOT NULL,
    status TEXT,  -- NULL while only intended; done, found, skipped, proposed, refused, failed
    result TEXT,                 -- JSON
    done_at REAL,
    made TEXT                    -- what the action made (a new job id), for chains
);
CREATE INDEX IF NOT EXISTS actions_made ON actions(made);
CREATE TABLE IF NOT EXISTS usage (  -- jobs that asked for >= a rule's ratio x what they used
    event_id TEXT NOT NULL, rule TEXT NOT NULL, user TEXT NOT NULL, ratio REAL NOT NULL,
    PRIMARY KEY (event_id, rule)
);
CREATE TABLE IF NOT EXISTS flags (
    rule TEXT NOT NULL, user TEXT NOT NULL, key TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (rule, user)
);
CREATE TABLE IF NOT EXISTS decisions (  -- a decider's choice per event, kept for redeliveries
    event_id TEXT PRIMARY KEY,
    by TEXT NOT NULL,            -- llm, or rules (the model's reply not used: see fallback)
    fallback TEXT,               -- timeout, deadline, invalid, connect, http, unconfigured
    decision TEXT NOT NULL,      -- JSON: chosen rules, the model's choice and reason
    at REAL NOT NULL
);
"""


class JournalError(RuntimeError):
    """A file that is not an action journal; one line."""


@dataclass(frozen=True)
class Intent:
    key: str
    event_id: str
    rule: str
    action: str
    seq: int | None
    event: dict[str, Any]
    plan: dict[str, Any]
    intent_at: float


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


class ActionJournal:
    """The journal of one agent's state folder (see the module doc)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL_NAME
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise JournalError(
                f"{self.path}: not an action journal ({exc}); give another --state folder"
            ) from None

    def close(self) -> None:
        self.db.close()

    def status(self, key: str) -> str | None:
        """``None``: never seen; ``""``: intended, no result yet; else the result's status."""
        row = self.db.execute("SELECT status FROM actions WHERE key = ?", (key,)).fetchone()
        return None if row is None else (row[0] or "")

    def intend(self, intent: Intent) -> None:
        self.db.execute(
            "INSERT INTO actions (key, event_id, rule, action, seq, event, plan, intent_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                intent.key, intent.event_id, intent.rule, intent.action, intent.seq,
                _json(intent.event), _json(intent.plan), intent.intent_at,
            ),
        )  # fmt: skip

    def finish(self, key: str, status: str, result: Mapping[str, Any]) -> None:
        made = result.get("made")
        self.db.execute(
            "UPDATE actions SET status = ?, result = ?, done_at = ?, made = ? WHERE key = ?",
            (status, _json(result), time.time(), None if made is None else str(made), key),
        )

    def record(self, intent: Intent, status: str, result: Mapping[str, Any]) -> None:
        """An action with no outside effect (skipped, proposed): intent and result at once."""
        with self.db:
            self.db.execute("BEGIN")
            self.intend(intent)
            self.finish(intent.key, status, result)

    def pending(self) -> list[Intent]:
        """Intents without a result: the actions a crash may have cut short, oldest first."""
        rows = self.db.execute(
            "SELECT key, event_id, rule, action, seq, event, plan, intent_at FROM actions"
            " WHERE status IS NULL ORDER BY intent_at"
        ).fetchall()
        return [
            Intent(k, e, r, a, s, json.loads(ev), json.loads(p), t)
            for k, e, r, a, s, ev, p, t in rows
        ]

    def attempt_of(self, job_id: str) -> int:
        """How many resubmissions led to ``job_id`` (0: it was not made by an agent)."""
        row = self.db.execute(
            "SELECT plan FROM actions WHERE made = ? AND action = 'resubmit'", (job_id,)
        ).fetchone()
        return int(json.loads(row[0]).get("attempt", 0)) if row else 0

    def count_usage(
        self, intent: Intent, user: str, ratio: float, threshold: float, after: int
    ) -> bool:
        """Count one over-requesting job (once per event) and flag ``user`` when this makes
        ``after`` of them; True when the user was flagged now. One transaction: exactly once."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            if ratio >= threshold:
                self.db.execute(
                    "INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?)",
                    (intent.event_id, intent.rule, user, ratio),
                )
            (count,) = self.db.execute(
                "SELECT COUNT(*) FROM usage WHERE rule = ? AND user = ?", (intent.rule, user)
            ).fetchone()
            flagged = self.db.execute(
                "SELECT 1 FROM flags WHERE rule = ? AND user = ?", (intent.rule, user)
            ).fetchone()
            if flagged or count < after:
                return False
            self.db.execute(
                "INSERT INTO flags VALUES (?, ?, ?, ?)",
                (intent.rule, user, intent.key, time.time()),
            )
            self.intend(intent)
            self.finish(intent.key, "done", {"user": user, "jobs": count, "ratio": ratio})
            return True

    def decide(self, event_id: str, by: str, fallback: str | None, decision: Any) -> None:
        """Keep a decider's choice for ``event_id`` (the first one stands)."""
        self.db.execute(
            "INSERT OR IGNORE INTO decisions VALUES (?, ?, ?, ?, ?)",
            (event_id, by, fallback, _json(decision), time.time()),
        )

    def decision_of(self, event_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT decision FROM decisions WHERE event_id = ?", (event_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def decider_counts(self) -> dict[str, int]:
        """Events decided by the model (``llm``) and by the rules after each kind of fallback
        (``fallback:KIND``)."""
        rows = self.db.execute(
            "SELECT by, fallback, COUNT(*) FROM decisions GROUP BY by, fallback ORDER BY by"
        )
        return {(f"fallback:{fb}" if fb else by): n for by, fb, n in rows}

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every action, oldest intent first, each with its causing event."""
        rows = self.db.execute(
            "SELECT key, rule, action, seq, event, plan, intent_at, status, result, done_at"
            " FROM actions ORDER BY intent_at"
        )
        for key, rule, action, seq, event, plan, at, status, result, done_at in rows:
            yield {
                "key": key,
                "rule": rule,
                "action": action,
                "status": status or "intended",
                "seq": seq,
                "intent_at": at,
                "done_at": done_at,
                "plan": json.loads(plan),
                "result": json.loads(result) if result else None,
                "event": json.loads(event),
            }
