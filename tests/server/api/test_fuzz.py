"""schemathesis over the whole OpenAPI document against a real server: no 5xx, whatever the input, with
auth off and with auth on (as an administrator, whose token the admin CLI makes).

A bounded run here; `make fuzz` runs many more examples."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.processes import admin_token, server_process, trainboard_env

pytestmark = pytest.mark.e2e
EXAMPLES = os.environ.get("TRAINBOARD_FUZZ_EXAMPLES", "5")
# `make fuzz`'s 200 examples a operation take longer than the suite's bounded run.
TIMEOUT_S = 600 if int(EXAMPLES) <= 20 else 60 * int(EXAMPLES)


@pytest.mark.parametrize("auth", ["off", "on"])
def test_no_generated_request_gets_a_server_error(tmp_path: Path, auth: str) -> None:
    env = trainboard_env(tmp_path / "home", auth=auth)
    headers = {"Authorization": f"Bearer {admin_token(env)}"} if auth == "on" else {}
    with server_process(env, tmp_path / "server.log") as url:
        # Something to find, so that the id-taking operations reach past their 404s.
        project = httpx.post(
            f"{url}/api/v1/projects", json={"name": "fuzz", "dataset": "digits"}, headers=headers
        ).json()
        httpx.post(
            f"{url}/api/v1/runs", json={"project_id": project["id"], "external": True}, headers=headers
        )
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{url}/openapi.json",
                *[arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")],
                # Revoking its own token (id 1) would leave every later request a 401, testing nothing.
                *(
                    ["--exclude-operation-id", "revoke_token_api_v1_tokens__token_id__delete"]
                    if headers
                    else []
                ),
                "--checks",
                "not_a_server_error",
                "--max-examples",
                EXAMPLES,
                "--seed",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
    assert result.returncode == 0, result.stdout[-4000:] + (tmp_path / "server.log").read_text()[-3000:]
