"""Nothing is lost when the database or the server goes away, with real processes: a PostgreSQL of the
test's own stopped mid-logging, a server stopped while a client logs (and spools to disk), and a server
restarted in the middle of a sweep that a real worker trains."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.backends import IN_CI
from tests.processes import free_port, server_process, trainboard_env, wait_until, worker_process
from trainboard.client import Client, Run

pytestmark = pytest.mark.e2e


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster in a temporary folder, on its own port, that a test may stop and start."""

    data: Path
    port: int
    command_prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        log = self.data.parent / "postgres.log"
        subprocess.run(
            [*self.command_prefix, "pg_ctl", "-D", str(self.data), "-l", str(log), "-w", *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        socket_dir = self.data.parent
        options = f"-p {self.port} -k {socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-o", options, "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        message = "initdb and pg_ctl (PostgreSQL's server binaries) are not on PATH"
        if IN_CI:
            pytest.fail(message + " (CI=true: they are required)")
        pytest.skip(message)
    # PostgreSQL refuses to run as root: as root, run it as the postgres user in a folder it owns.
    # Not under pytest's tmp_path, whose parents are private to root.
    root = Path(tempfile.mkdtemp(prefix="tb-pg-", dir="/tmp"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    cluster = PrivatePostgres(root / "data", free_port(), prefix)
    subprocess.run(
        [
            *prefix,
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            [*prefix, "pg_ctl", "-D", str(cluster.data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


class Trainer:
    """A training script's loop on a thread: logs two metrics per step until told to stop."""

    def __init__(self, run: Run, pause_s: float = 0.003) -> None:
        self.run, self.pause_s, self.steps = run, pause_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._train, daemon=True)

    def __enter__(self) -> Trainer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _train(self) -> None:
        while not self._stop.is_set():
            self.steps += 1
            self.run.log({"loss": 1.0 / self.steps, "acc": 1.0 - 1.0 / self.steps}, step=self.steps)
            time.sleep(self.pause_s)


def open_run(url: str, project: str, **options: object) -> Run:
    # Short back-off so the test sees the recovery soon after the outage ends.
    client = Client(server_url=url, backoff_s=0.2, max_backoff_s=1.0)
    created = client.create_run(client.get_or_create_project(project)["id"], params={})
    return Run(client, created, flush_interval_s=0.2, batch_size=200, **options)  # type: ignore[arg-type]


def assert_every_point_once(client: Client, run_id: int, steps: int) -> None:
    for key in ("loss", "acc"):
        series = client.request("GET", f"/runs/{run_id}/metrics/{key}")
        assert series is not None
        got = [int(step) for step, _ in series.json()["points"]]
        assert len(got) == steps and sorted(got) == list(range(1, steps + 1)), key
    run = client.get_run(run_id)
    assert run["status"] == "succeeded" and run["summary"]["loss"] == pytest.approx(1.0 / steps)


def test_points_logged_while_postgresql_is_down_arrive_exactly_once(
    private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    env = trainboard_env(tmp_path / "home", database_url=private_postgres.url)
    log = tmp_path / "server.log"
    with server_process(env, log) as url:
        run = open_run(url, "db-outage")
        with Trainer(run) as trainer:
            wait_until(lambda: trainer.steps > 300, 30, "logging to start")
            private_postgres.stop()
            wait_until(lambda: "database unavailable" in log.read_text(), 20, "the server to see the outage")
            time.sleep(5)
            assert run.pending > 0  # the points of the outage wait in the client
            private_postgres.start()
            time.sleep(2)  # logging goes on after the database is back
        run.finish(timeout_s=60)
        assert_every_point_once(run.client, run.id, trainer.steps)
    engine = create_engine(private_postgres.url)
    with engine.connect() as conn:
        rows, distinct = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT (key, step)) FROM metric_points WHERE run_id = :id"),
            {"id": run.id},
        ).one()
    engine.dispose()
    assert rows == distinct == 2 * trainer.steps
    server_log = log.read_text()
    assert "unhandled error" not in server_log  # the outage gave 503s, never a 500


def test_points_logged_while_the_server_is_stopped_spool_to_disk_and_arrive_once(tmp_path: Path) -> None:
    env = trainboard_env(tmp_path / "home")
    port = free_port()
    with server_process(env, tmp_path / "server-1.log", port=port) as url:
        run = open_run(url, "server-outage", max_buffered_points=500, spool_dir=tmp_path / "spool")
        trainer = Trainer(run).__enter__()
        wait_until(lambda: trainer.steps > 200, 30, "logging to start")
    try:
        wait_until(lambda: run.spooled > 2, 30, "points to spool to disk")
        spooled_at_restart = run.spooled
        with server_process(env, tmp_path / "server-2.log", port=port):
            time.sleep(1)
            trainer.__exit__()
            run.finish(timeout_s=60)
            assert_every_point_once(run.client, run.id, trainer.steps)
    finally:
        trainer.__exit__()
    assert spooled_at_restart > 2 and run.spool_folder is None  # spooled, then all replayed and removed
    assert list((tmp_path / "spool").iterdir()) == []


def test_a_sweep_completes_all_trials_across_a_server_restart(tmp_path: Path) -> None:
    env = trainboard_env(tmp_path / "home", reaper_interval_s="1")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    body = {
        "base_config": {"model": {"name": "mlp", "hidden": [16]}, "hparams": {"epochs": 2, "batch_size": 64}},
        "space": {"hparams.lr": {"log_uniform": [1e-3, 1e-2]}},
        "trials": 3,
        "parallelism": 1,
        "seed": 5,
    }

    def trials() -> list[dict]:  # type: ignore[type-arg]
        return client.request("GET", f"/sweeps/{sweep['id']}").json()["trials"]  # type: ignore[union-attr]

    # The worker outlives both server processes: it reaches the server by URL, and the broker is a file.
    with worker_process(env, url, tmp_path / "worker.log"), Client(server_url=url) as client:
        with server_process(env, tmp_path / "server-1.log", port=port):
            project = client.create_project(name="restart sweep", dataset="digits")
            sweep = client.request("POST", "/sweeps", json={**body, "project_id": project["id"]}).json()
            wait_until(lambda: any(t["status"] == "running" for t in trials()), 60, "a trial to start")
        time.sleep(3)  # the server is away while the worker trains
        with server_process(env, tmp_path / "server-2.log", port=port):
            done = wait_until(
                lambda: (
                    (s := client.request("GET", f"/sweeps/{sweep['id']}").json())["status"] == "finished"
                    and s
                ),
                120,
                "the sweep to finish",
                interval=0.5,
            )
            trial_series = {
                t["id"]: client.request("GET", f"/runs/{t['id']}/metrics/dev_error").json()["points"]
                for t in done["trials"]
            }
    logs = (tmp_path / "worker.log").read_text()[-3000:]
    assert [t["status"] for t in done["trials"]] == ["succeeded"] * 3, logs
    for trial in done["trials"]:
        assert [step for step, _ in trial_series[trial["id"]]] == [1, 2], trial
