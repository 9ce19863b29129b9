"""Staging: inputs linked into a private attempt directory, outputs moved out atomically."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from hpcsched.campaigns.task import FileRecord, Task
from hpcsched.runtime import staging
from hpcsched.runtime.staging import (
    COMMIT_MARKER,
    attempt_dir,
    commit,
    hash_file,
    hash_inputs,
    prepare,
    safe_id,
)


def _task(**kw: object) -> Task:
    return Task.model_validate({"id": "t", "command": "true", **kw})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def work(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "a.txt").write_text("alpha\n")
    (work / "sub" / "c.txt").write_text("gamma\n")
    return work


def test_safe_ids_are_safe_and_unique() -> None:
    assert safe_id("make-1.2_x") == "make-1.2_x"  # plain ids stay readable
    ids = ["a/b", "a_b", "A_b", "a b", "..", ".", ".hidden", "é", "x" * 300, "x" * 301]
    names = [safe_id(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert len({n.lower() for n in names}) == len(ids)  # case-insensitive filesystems too
    for name in names:
        assert "/" not in name and not name.startswith(".") and len(name) <= 113
        assert name.isascii()


def test_attempt_dir_layout(tmp_path: Path) -> None:
    assert attempt_dir(tmp_path, "make", 2) == tmp_path / "attempts" / "make.2"
    assert attempt_dir(tmp_path, "a/b", 1).parent == tmp_path / "attempts"


def test_prepare_links_inputs_at_their_relative_paths(tmp_path: Path, work: Path) -> None:
    where = attempt_dir(tmp_path / "run", "t", 1)
    task = _task(inputs=["a.txt", "sub/c.txt"])
    assert prepare(task, where, work) is None
    assert (where / "a.txt").is_symlink()
    assert (where / "sub" / "c.txt").read_text() == "gamma\n"
    assert os.readlink(where / "a.txt") == str(work / "a.txt")
    assert prepare(task, where, work) is None  # preparing the same attempt again is fine


def test_prepare_names_the_missing_input(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(work.parent)
    where = tmp_path / "att"
    message = prepare(_task(inputs=["a.txt", "b.txt"]), where, Path("work"))
    assert message == "input 'b.txt' does not exist (declared by job t)"
    assert not where.exists()  # nothing staged
    message = prepare(_task(inputs=["x", "y"]), where, work)
    assert message == "input 'x', 'y' do not exist (declared by job t)"
    assert "is a directory" in (prepare(_task(inputs=["sub"]), where, work) or "")
    for bad in ("/etc/passwd", "../a.txt", "sub/../../a.txt"):
        assert "not a path relative" in (prepare(_task(inputs=[bad]), where, work) or "")


def test_hash_file_is_streamed_sha256(tmp_path: Path) -> None:
    data = os.urandom(3 * (1 << 20) + 17)  # several chunks and a partial one
    (tmp_path / "big").write_bytes(data)
    assert hash_file(tmp_path / "big", "big") == FileRecord(
        path="big", sha256=_sha(data), size=len(data)
    )
    (tmp_path / "empty").write_bytes(b"")
    empty = hash_file(tmp_path / "empty")
    assert (empty.path, empty.sha256, empty.size) == (str(tmp_path / "empty"), _sha(b""), 0)


def test_hash_inputs_are_relative_to_the_work_dir(work: Path) -> None:
    records = hash_inputs(_task(inputs=["a.txt", "sub/c.txt"]), work)
    assert records == [
        FileRecord(path="a.txt", sha256=_sha(b"alpha\n"), size=6),
        FileRecord(path="sub/c.txt", sha256=_sha(b"gamma\n"), size=6),
    ]


def _written(where: Path, outputs: dict[str, bytes]) -> None:
    for rel, data in outputs.items():
        (where / rel).parent.mkdir(parents=True, exist_ok=True)
        (where / rel).write_bytes(data)


def test_commit_moves_outputs_and_hashes_them(tmp_path: Path, work: Path) -> None:
    where = tmp_path / "att"
    task = _task(outputs=["b.txt", "deep/er/d.bin"])
    _written(where, {"b.txt": b"beta", "deep/er/d.bin": b"\x00\x01"})
    records, error = commit(task, where, work)
    assert error is None
    assert records == [
        FileRecord(path="b.txt", sha256=_sha(b"beta"), size=4),
        FileRecord(path="deep/er/d.bin", sha256=_sha(b"\x00\x01"), size=2),
    ]
    assert (work / "b.txt").read_bytes() == b"beta"
    assert (work / "deep" / "er" / "d.bin").is_file()
    assert not (where / "b.txt").exists()
    assert commit(task, where, work) == (records, None)  # committing again changes nothing


def test_commit_checks_every_output_before_moving_any(tmp_path: Path, work: Path) -> None:
    where = tmp_path / "att"
    _written(where, {"a2.txt": b"new"})
    (work / "b.txt").write_text("from an earlier run")  # must not count as written
    records, error = commit(_task(outputs=["a2.txt", "b.txt"]), where, work)
    assert (records, error) == ([], "declared output b.txt was not written")
    assert (where / "a2.txt").is_file() and not (work / "a2.txt").exists()
    assert not (where / COMMIT_MARKER).exists()


def test_commit_interrupted_between_moves_can_be_redone(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = tmp_path / "att"
    outputs = {"x.txt": b"x" * 10, "y.txt": b"y" * 20, "z/z.txt": b"z"}
    _written(where, outputs)
    (work / "y.txt").write_text("stale")
    task = _task(outputs=list(outputs))
    real_move = staging._move
    moves: list[Path] = []

    def dying_move(staged: Path, final: Path) -> None:
        if moves:
            raise SystemExit("killed")  # the pilot dies after the first move
        moves.append(staged)
        real_move(staged, final)

    monkeypatch.setattr(staging, "_move", dying_move)
    with pytest.raises(SystemExit):
        commit(task, where, work)
    monkeypatch.setattr(staging, "_move", real_move)
    assert not (where / "x.txt").exists() and (work / "x.txt").exists()
    records, error = commit(task, where, work)  # recovery
    assert error is None
    assert [(r.path, r.sha256, r.size) for r in records] == [
        (rel, _sha(data), len(data)) for rel, data in outputs.items()
    ]
    assert (work / "y.txt").read_bytes() == b"y" * 20  # the staged copy won over the stale one


def test_commit_across_filesystems(
    tmp_path: Path, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = tmp_path / "att"
    _written(where, {"b.txt": b"beta"})
    real_replace = os.replace

    def no_cross_device(src: Path, dst: Path) -> None:
        if Path(src).parent == where:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(staging.os, "replace", no_cross_device)
    records, error = commit(_task(outputs=["b.txt"]), where, work)
    assert error is None and records[0].sha256 == _sha(b"beta")
    assert (work / "b.txt").read_bytes() == b"beta" and not (where / "b.txt").exists()
    assert [p.name for p in work.iterdir() if "hpcsched-tmp" in p.name] == []
