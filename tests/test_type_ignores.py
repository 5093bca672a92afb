"""A `type: ignore` in the type-checked code names the error it silences and says why, so the next reader
can judge whether the reason still holds (mypy itself enforces the code: `ignore-without-code`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]+\])?(?P<after>.*)$")
REASON = re.compile(r"\s+#\s*\S")


def mypy_config() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]


def skipped_modules() -> set[str]:
    """The modules whose errors mypy is told to ignore (the temporary block for branches being merged)."""
    return {
        module
        for override in mypy_config().get("overrides", [])
        if override.get("ignore_errors")
        for module in override["module"]
    }


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def skips(pattern: str, module: str) -> bool:
    """mypy's module patterns: "a.b" is that module, "a.b.*" it and everything under it."""
    if pattern.endswith(".*"):
        return module == pattern[:-2] or module.startswith(pattern[:-1])
    return module == pattern


def unexplained(line: str) -> bool:
    match = IGNORE.search(line)
    return match is not None and not (match["codes"] and REASON.match(match["after"]))


def test_the_pattern_tells_an_explained_ignore_from_a_bare_one() -> None:
    assert unexplained("x = f()  # type: ignore")
    assert unexplained("x = f()  # type: ignore[arg-type]")
    assert not unexplained("x = f()  # type: ignore[arg-type]  # f's stub says str; it takes bytes too")
    assert not unexplained("x = f()  # a comment")


def test_every_type_ignore_names_its_code_and_a_reason() -> None:
    skipped = skipped_modules()
    bare = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in mypy_config()["files"]
        for path in sorted((ROOT / folder).rglob("*.py"))
        if not any(skips(pattern, module_of(path)) for pattern in skipped)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if unexplained(line)
    ]
    assert bare == [], f"write `# type: ignore[code]  # why` (or fix the type) at: {bare}"
