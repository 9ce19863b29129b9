"""Stable keyed pseudonyms for who ran a job and where: users, accounts, paths, uids.

Why: accounting dumps are personal data (user names, uids, home directories); a job table that
leaves the machine (a report, a prompt to a remote model, a shared benchmark) should carry
pseudonyms that still group jobs by user, account and directory. Each value is replaced by
HMAC-SHA256(key, column kind + value), truncated to 16 hex digits: the same value and key give
the same pseudonym in every run and every file (so tables can still be joined), another key
gives unrelated ones, and without the key the names cannot be recovered by hashing guesses
(a plain hash of a user name can). Each distinct value is hashed once.

The key: ``--anonymize-key``, else ``$HPCSCHED_ANON_KEY``, else the key file
``~/.config/hpcsched/anon.key`` (32 random bytes, hex, created on first use with mode 0600).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from typing import Final

import polars as pl

__all__ = ["KEY_ENV", "KEY_FILE", "anonymize", "anonymized_columns", "resolve_key"]

KEY_ENV: Final = "HPCSCHED_ANON_KEY"
KEY_FILE: Final = Path("~/.config/hpcsched/anon.key")
#: Columns always replaced, with the prefix their pseudonyms get.
_NAMED: Final = {
    "user": "user_",
    "account": "acct_",
    "workdir": "/anon/",
    "sacct_group": "group_",
    "sacct_uid": "uid_",
    "sacct_gid": "gid_",
    "sacct_cancelled_by_user": "user_",
    "sacct_submitline": "cmd_",
    "sacct_stdout": "/anon/",
    "sacct_stderr": "/anon/",
    "sacct_stdin": "/anon/",
    "sacct_comment": "text_",
    "sacct_admincomment": "text_",
    "sacct_systemcomment": "text_",
}
#: Integer uid/gid columns -> the kind their keyed numbers are made for (the type stays; 0 =
#: root stays 0, and SWF's -1 = unknown stays -1). SWF's user and group ids are identities too.
_UID_NUMBERS: Final = {"sacct_cancelled_by": "uid", "swf_user": "uid", "swf_group": "gid"}
_PATH: Final = re.compile(r"(^|[\s=:])(/|~/)")  # a value that holds an absolute or home path


def resolve_key(explicit: str | None = None) -> tuple[bytes, str]:
    """(key, where it came from): the option, else the environment, else the key file."""
    if explicit:
        return explicit.encode(), "--anonymize-key"
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].encode(), f"${KEY_ENV}"
    path = KEY_FILE.expanduser()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    key = path.read_text().strip().encode()
    if not key:
        raise ValueError(
            f"the anonymization key file {path} is empty (delete it to make a new one)"
        )
    return key, str(path)


def _digest(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:16]


def anonymized_columns(table: pl.DataFrame) -> list[str]:
    """The columns :func:`anonymize` replaces: the named ones present, the integer uids, and
    any other text ``sacct_*`` column holding a path (``/...``, ``~/...``, ``--opt=/...``)."""
    named = [c for c in table.columns if c in _NAMED or c in _UID_NUMBERS]
    paths = [
        c
        for c in table.columns
        if c.startswith("sacct_")
        and c not in named
        and table.schema[c] == pl.String
        and table[c].str.contains(_PATH.pattern).any()
    ]
    return named + paths


def anonymize(table: pl.DataFrame, key: bytes) -> pl.DataFrame:
    """``table`` with users, accounts, paths and uids replaced by keyed pseudonyms.

    Empty strings and nulls stay as they are (they say "not set", not who).
    """
    replaced = []
    for column in anonymized_columns(table):
        distinct = table[column].drop_nulls().unique()
        if column in _UID_NUMBERS:
            kind = _UID_NUMBERS[column]
            numbers = {
                int(v): int(v)
                if v in (0, -1)
                else 1000 + int(_digest(key, kind, str(v)), 16) % 10**8
                for v in distinct.to_list()
            }
            mapping = pl.col(column).replace_strict(numbers, return_dtype=table.schema[column])
        else:
            prefix = _NAMED.get(column, "/anon/")
            kind = "user" if prefix == "user_" else column
            names = {
                v: v if v == "" else prefix + _digest(key, kind, v) for v in distinct.to_list()
            }
            mapping = pl.col(column).replace_strict(names, return_dtype=pl.String)
        replaced.append(mapping.alias(column))
    return table.with_columns(replaced) if replaced else table
