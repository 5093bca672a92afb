"""constraints.txt pins every package `make install` brings (torch, installed on its own, and what only torch
needs aside), and the suite runs with those versions: a dependency added to pyproject.toml without
`make lock` fails here, as does an environment that drifted from the lock."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LOCK = Path(__file__).resolve().parents[1] / "constraints.txt"
UNLOCKED = {"torch"}  # the Makefile installs it first; a GPU build is the user's choice


def pins() -> dict[str, str]:
    found = {}
    for line in LOCK.read_text().splitlines():
        if match := re.fullmatch(r"([A-Za-z0-9_.\-]+)==(\S+)", line.strip()):
            found[canonicalize_name(match[1])] = match[2]
    return found


def needed(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """The installed distributions `name` (with `extras`) needs, itself included, torch's tree left out."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(name, extras)]
    while todo:
        current, wanted = todo.pop()
        key = canonicalize_name(current)
        if key in UNLOCKED or (key, wanted) in seen:
            continue
        seen.add((key, wanted))
        for text in metadata.requires(current) or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(e) for e in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return {key for key, _ in seen}


def test_the_lock_pins_every_dependency_at_the_installed_version() -> None:
    locked = pins()
    installed = {
        key: metadata.version(key) for key in needed("trainboard", frozenset({"test"})) if key != "trainboard"
    }
    assert len(installed) > 50
    missing = sorted(set(installed) - set(locked))
    assert missing == [], f"not in constraints.txt (run make lock): {missing}"
    drifted = {key: (version, locked[key]) for key, version in installed.items() if version != locked[key]}
    assert drifted == {}, f"installed versions differ from constraints.txt (run make install): {drifted}"
    assert "torch" not in locked
