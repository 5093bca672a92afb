"""`trainboard serve` writes no line per request unless TRAINBOARD_ACCESS_LOG asks for one."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.processes import server_process, trainboard_env


@pytest.mark.parametrize(("setting", "logged"), [(None, False), ("true", True)])
def test_access_log_only_when_asked(tmp_path: Path, setting: str | None, logged: bool) -> None:
    env = trainboard_env(tmp_path / "home", **({"access_log": setting} if setting else {}))
    log = tmp_path / "serve.log"
    with server_process(env, log) as url:
        assert httpx.get(f"{url}/api/v1/runs").status_code == 200
    assert ('"GET /api/v1/runs HTTP/1.1" 200' in log.read_text()) is logged
