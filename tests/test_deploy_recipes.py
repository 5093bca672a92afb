"""The production recipes (compose.yaml, deploy/systemd/) cannot run here (no containers, no systemd): read
them instead, and hold every command to a real `trainboard` command and every TRAINBOARD_ variable to a real
setting, so that a renamed option or setting breaks this test instead of a deployment."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from trainboard.broker import DEFAULT_QUEUE
from trainboard.cli import build_parser, worker_argv
from trainboard.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
SYSTEMD = ROOT / "deploy" / "systemd"
SETTINGS = {f"TRAINBOARD_{name.upper()}" for name in Settings.model_fields}
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}: the value from `values`, else the default
    (a placeholder for a required one); `$$` is a plain `$`."""

    def value(match: re.Match[str]) -> str:
        default = match[2] if match[2] is not None and "set " not in match[2] else "required-value"
        return values.get(match[1]) or default

    return "$".join(VARIABLE.sub(value, part) for part in text.split("$$"))


def example_values() -> dict[str, str]:
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def assert_real_command(argv: list[str]) -> Any:
    assert argv[0].rsplit("/", 1)[-1] == "trainboard", argv
    try:
        return build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"not a trainboard command: {shlex.join(argv)}")


def compose() -> dict[str, Any]:
    text = interpolate(COMPOSE.read_text(), example_values())
    return yaml.safe_load(text)  # type: ignore[no-any-return]


def test_every_compose_service_of_ours_runs_a_real_trainboard_command_with_real_settings() -> None:
    services = compose()["services"]
    ours = {
        name: service for name, service in services.items() if service.get("image") == "trainboard:latest"
    }
    commands = {name: assert_real_command(service["command"]) for name, service in ours.items()}
    assert (commands["migrate"].command, commands["migrate"].db_command) == ("db", "upgrade")
    assert commands["server"].command == "serve" and commands["server"].workers == 2
    assert commands["worker"].command == "worker"
    assert DEFAULT_QUEUE in commands["worker"].queues.split(","), "the workers must take the server's queue"
    for name, service in ours.items():
        unknown = set(service.get("environment", {})) - SETTINGS
        assert not unknown, f"{name}: not Trainboard settings: {unknown}"
    assert "TRAINBOARD_DATABASE_URL" not in ours["worker"]["environment"], "workers never need the database"


def test_compose_starts_in_order_and_checks_health() -> None:
    services = compose()["services"]
    assert services["server"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["worker"]["depends_on"]["server"] == {"condition": "service_healthy"}
    for name in ("postgres", "redis", "server", "worker"):
        assert services[name]["healthcheck"]["test"], name
    assert "/api/v1/health" in " ".join(services["server"]["healthcheck"]["test"])
    worker_probe = services["worker"]["healthcheck"]["test"][1]
    node = assert_real_command(["trainboard", *services["worker"]["command"][1:]])
    assert node.queues == "gpu,cpu"
    argv = worker_argv(DEFAULT_QUEUE, 1)
    node_name = argv[argv.index("-n") + 1].replace("%h", "$HOSTNAME")  # the name the worker gives itself
    assert f"-d {node_name} " in worker_probe


@pytest.mark.parametrize("unit", sorted(path.name for path in SYSTEMD.glob("*.service")))
def test_each_systemd_unit_runs_a_real_trainboard_command_with_real_settings(unit: str) -> None:
    service: dict[str, list[str]] = {}
    for line in (SYSTEMD / unit).read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            service.setdefault(key.strip(), []).append(value.strip())
    (exec_start,) = service["ExecStart"]
    command = assert_real_command(shlex.split(exec_start.replace("%i", "0")))
    if command.command == "worker":
        assert DEFAULT_QUEUE in command.queues.split(","), "the workers must take the server's queue"
    assert service["EnvironmentFile"] == ["/etc/trainboard/env"]
    for assignment in service.get("Environment", []):
        name = assignment.split("=", 1)[0]
        assert name in SETTINGS or name == "CUDA_VISIBLE_DEVICES", f"{unit}: {name}"


def test_the_systemd_environment_file_names_only_real_settings() -> None:
    lines = (SYSTEMD / "trainboard.env").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert names <= SETTINGS, names - SETTINGS
