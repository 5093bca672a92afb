"""Files the server replaces or creates once: each writer has its own temporary file; creators agree."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from server.files import create_once, replacing


def test_writers_of_one_file_at_once_each_write_their_own_and_the_last_one_stays(tmp_path: Path) -> None:
    target = tmp_path / "run-1.pt"
    with replacing(target) as first, replacing(target) as second:
        first.write(b"A" * 1000)
        second.write(b"B" * 10)
    assert target.read_bytes() == b"A" * 1000  # the outer block ends last
    assert [p.name for p in tmp_path.iterdir()] == ["run-1.pt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "check.json"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), replacing(target) as out:
        out.write(b"half")
        raise RuntimeError("client went away")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["check.json"]


def test_processes_creating_the_secret_at_once_all_get_the_one_that_won(tmp_path: Path) -> None:
    target, results = tmp_path / "secret_key", []
    start = threading.Barrier(8)

    def create(mine: bytes) -> None:
        start.wait()
        results.append(create_once(target, mine))

    threads = [threading.Thread(target=create, args=(bytes([65 + i]) * 64,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and results[0] == target.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
