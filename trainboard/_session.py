"""`trainboard.init`, and the module-level `log`, `finish` and `run` that act on the run it started."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from trainboard._base import BaseRun
from trainboard._config import flatten, nest
from trainboard._disabled import DisabledRun
from trainboard._http import Client, TrainboardError, is_transient
from trainboard._offline import OfflineRun
from trainboard._run import Run
from trainboard.environment import script_environment
from trainboard.params import merged
from trainboard.settings import MODES, get_settings

logger = logging.getLogger(__name__)

#: `init` asks the server's health first: three tries (0.5 s, then 1 s apart) of at most 5 s each, then the
#: run goes offline rather than hold up training for the client's usual 90 s of retries.
PROBE_RETRIES, PROBE_TIMEOUT_S = 2, 5.0

current: BaseRun | None = None


def _checked(fields: dict[str, Any], human_level_error: float | None) -> dict[str, Any]:
    """The run's fields as the server will store them (tags trimmed, each once), checked by the server's
    own schemas (server/schemas.py), so that an offline run is refused at `init`, not at `trainboard sync`;
    ValueError naming the field."""
    from server import schemas  # pydantic only; imported here so that `import trainboard` stays light

    tags = fields.get("tags")
    if isinstance(tags, str):
        raise ValueError(f"tags must be a list of strings, but got the string {tags!r}")
    if tags is not None:
        fields = {**fields, "tags": list(tags)}
    try:
        schemas.ProjectUpdate.model_validate({"human_level_error": human_level_error})
        given = {k: v for k, v in fields.items() if v is not None}
        run = schemas.RunCreate.model_validate({"project_id": 1, "external": True, **given})
    except ValidationError as exc:
        error = exc.errors()[0]
        field, *inside = error["loc"]
        where = "".join(f"[{part}]" for part in inside)
        raise ValueError(f"{field}{where}: {error['msg']}") from None
    return {**fields, **run.model_dump(include=set(given) & {"tags", "notes", "group"})}


def _online(spec: dict[str, Any], client: Client) -> Run:
    """Find or create the project, set its human-level error when given, create the run."""
    client.health(retries=PROBE_RETRIES, timeout=PROBE_TIMEOUT_S)
    project = client.get_or_create_project(spec["project"], dataset=spec["dataset"])
    level = spec["human_level_error"]
    if level is not None and project.get("human_level_error") != level:
        client.update_project(project["id"], human_level_error=level)
    fields = {k: spec[k] for k in ("name", "group", "tags", "notes", "environment")}
    created = client.create_run(project["id"], params=spec["params"], idempotency_key=spec["id"], **fields)
    return Run(client, created)


def _resumed(run_id: int, project: str | None, client: Client, changes: dict[str, Any]) -> Run:
    """Reopen run `run_id` (in `project`, when named) so that its next step goes on after its last.

    The same script restarted passes the same config and group: a different one is refused (it would no
    longer be one run). Name, tags and notes given are saved on the run."""
    run = client.get_run(run_id)
    if project is not None:
        found = client.find_project(project)
        if found is None or run["project_id"] != found["id"]:
            raise ValueError(f"resume: run {run_id} is in project #{run['project_id']}, not in {project!r}")
    params, group = changes.pop("params"), changes.pop("group")
    if params and nest(params) != nest(run.get("params") or {}):
        was, now = flatten(run.get("params") or {}), flatten(params)
        keys = sorted(k for k in was.keys() | now.keys() if was.get(k) != now.get(k))
        raise ValueError(f"resume: run {run_id} was started with another config (it differs in {keys})")
    if group is not None and group != run.get("group"):
        raise ValueError(f"resume: run {run_id} is in group {run.get('group')!r}, not {group!r}")
    edits = {k: v for k, v in changes.items() if v is not None}
    if edits:
        client.update_run(run_id, **edits)
    return Run(client, client.resume_run(run_id))


def _offline(spec: dict[str, Any]) -> OfflineRun:
    run = OfflineRun(spec, get_settings().resolved_home / "spool")
    print(
        f"trainboard: offline run {run.id} kept in {run.folder}; send it with `trainboard sync`",
        file=sys.stderr,
    )
    return run


def init(
    project: str | None = None,
    name: str | None = None,
    config: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    human_level_error: float | None = None,
    mode: str | None = None,
    resume: int | None = None,
    params: Mapping[str, Any] | None = None,
    dataset: str = "external",
    client: Client | None = None,
    system_metrics: bool = False,
) -> BaseRun:
    """Start a run of your own training script in `project` (created when missing) and return it.

    Args:
        project: the project's name; default TRAINBOARD_PROJECT.
        name: the run's name; the server names it run-<id> when None.
        config: hyperparameters, nested dicts or dotted keys; `run.config` reads them back. `params` is
            its older name (give one of the two).
        tags, notes: labels (1-100 characters, at most 50) and free text, editable on the run page.
        group: runs that differ only by seed share a group, whose spread tells a real gap from seed noise.
        human_level_error: sets the project's human-level error (a fraction), the diagnosis's Bayes proxy.
        mode: "online" (default, or TRAINBOARD_MODE), "offline" (kept on disk for `trainboard sync`) or
            "disabled" (nothing is sent or written: for unit tests and CI).
        resume: the id of a run of the project to go on with; its next step follows its last logged one.
        system_metrics: also sample CPU, memory and any NVIDIA GPU (with `trainboard[gpu]`) into `system/*`
            metrics every 5 seconds until `finish` (trainboard.system_metrics).

    Online, a server that cannot be reached after a few tries (a few seconds) makes the run offline, with a
    warning; `trainboard sync` sends it later.
    """
    run = _init(
        project, name, config, tags, notes, group, human_level_error, mode, resume, params, dataset, client
    )
    if system_metrics and run.mode != "disabled":
        run.start_system_metrics()
    return run


def _init(
    project: str | None,
    name: str | None,
    config: Mapping[str, Any] | None,
    tags: Sequence[str] | None,
    notes: str | None,
    group: str | None,
    human_level_error: float | None,
    mode: str | None,
    resume: int | None,
    params: Mapping[str, Any] | None,
    dataset: str,
    client: Client | None,
) -> BaseRun:
    global current
    if config is not None and params is not None:
        raise ValueError("config and params are one thing (params is config's older name): give only one")
    values = dict(config if config is not None else params or {})
    attached = attach_to_agent_trial(defaults=values, client=client)
    if attached is not None:  # under trainboard agent: the trial is the run, whatever was asked for
        current = attached
        return current
    settings = get_settings()
    mode = mode or settings.mode
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, but got {mode=}")
    project = project or settings.project
    if mode == "disabled":
        current = DisabledRun(name=name, params=values)
        return current
    fields = {"name": name, "params": values, "tags": tags, "notes": notes, "group": group}
    if resume is not None:
        if mode == "offline":
            raise ValueError(f"resume needs the server: an offline run cannot go on with run {resume}")
        current = _resumed(int(resume), project, client or Client(), _checked(fields, human_level_error))
        _announce(current)
        return current
    if project is None:
        raise ValueError("project: name one, trainboard.init(project=...), or set TRAINBOARD_PROJECT")
    spec = {
        "id": str(uuid.uuid4()),  # the Idempotency-Key of the run's creation, online or at sync
        "project": project,
        "dataset": dataset,
        "human_level_error": human_level_error,
        **_checked({**fields, "environment": script_environment()}, human_level_error),
    }
    current = _offline(spec) if mode == "offline" else _online_or_offline(spec, client or Client())
    return current


def attach_to_agent_trial(
    *, defaults: Mapping[str, Any] | None = None, client: Client | None = None
) -> Run | None:
    """The sweep trial `trainboard agent` runs this script for (TRAINBOARD_RUN_ID), or None outside one.

    No run is created: the script logs to the trial, and `run.config` holds the script's `defaults` (the
    config it passed to init, nested or dotted) with the trial's sampled values set over them. The run's
    project and name are the sweep's, whatever the script asked for.
    """
    run_id = get_settings().run_id
    if run_id is None:
        return None
    client = client or Client()
    data = client.get_run(run_id)
    try:
        values = merged(defaults or {}, data.get("params") or {})
    except ValueError as exc:
        raise ValueError(f"the script's config and sweep {data.get('sweep_id')}'s clash: {exc}") from None
    run = Run(client, {**data, "params": values})
    logger.info("trainboard: attached to run %s of sweep %s", run_id, data.get("sweep_id"))
    return run


def _online_or_offline(spec: dict[str, Any], client: Client) -> BaseRun:
    try:
        run = _online(spec, client)
    except TrainboardError as exc:
        if not is_transient(exc):
            raise
        print(f"trainboard: {exc}; the run goes offline", file=sys.stderr)
        return _offline(spec)
    _announce(run)
    return run


def _announce(run: Run) -> None:
    print(f"trainboard: run {run.name} at {run.url}", file=sys.stderr)


def log(metrics: Mapping[str, Any], step: int | None = None) -> None:
    """`run.log` on the run `trainboard.init` started."""
    if current is None:
        raise RuntimeError("trainboard.log() needs a run: call trainboard.init() first")
    current.log(metrics, step=step)


def finish(status: str = "succeeded", error: str | None = None) -> None:
    """Finish the run `trainboard.init` started (none: nothing to do)."""
    global current
    if current is not None:
        current.finish(status, error)
        current = None


__all__ = ["finish", "init", "log"]
