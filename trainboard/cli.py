"""The `trainboard` command: up, serve, worker, agent, sync, import, db upgrade, users add, tokens add."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainboard import admin
from trainboard.broker import DEFAULT_QUEUE
from trainboard.files import keep_private, private_dir
from trainboard.settings import get_settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from trainboard.client import Client

logger = logging.getLogger("trainboard")


EMBEDDED_WORKER_TOKEN = "trainboard up: embedded worker"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _refuse_open_without_auth(host: str) -> None:
    from server.security import is_loopback_name

    if not is_loopback_name(host) and not get_settings().auth_enabled:
        sys.exit(
            f"Refusing to serve on {host} without authentication: anyone on the network could read and "
            "change your runs. Set TRAINBOARD_AUTH=on (the first start creates the account 'admin' with "
            "TRAINBOARD_ADMIN_PASSWORD, or prints a generated password; workers then need a worker token, "
            "made on the Users page), or bind to 127.0.0.1."
        )


def prepare_accounts() -> None:
    """With auth on, the first start creates the 'admin' account; a generated password is printed once."""
    if not get_settings().auth_enabled:
        return
    from server.db import get_sessionmaker
    from server.errors import InvalidInput
    from server.services import accounts

    with get_sessionmaker()() as session:
        try:
            generated = accounts.ensure_admin(session=session, password=get_settings().admin_password)
        except InvalidInput as exc:
            sys.exit(f"TRAINBOARD_ADMIN_PASSWORD: {exc.message}.")
    if generated:
        print(
            f"Created the administrator account 'admin' with the password: {generated}\n"
            "It is shown only this once: log in and change it on the Account page.",
            flush=True,
        )


def embedded_worker_token() -> str:
    """The token `up` hands its worker: the configured TRAINBOARD_API_TOKEN, else a fresh worker token
    (the previous start's is revoked, since only its hash was kept)."""
    configured = get_settings().api_token
    if configured:
        return configured
    from server.db import get_sessionmaker
    from server.services import accounts

    with get_sessionmaker()() as session:
        accounts.revoke_tokens_named(session=session, name=EMBEDDED_WORKER_TOKEN, kind="worker")
        return accounts.create_token(
            session=session, name=EMBEDDED_WORKER_TOKEN, kind="worker", user_id=None
        ).token


def db_upgrade(*, quiet: bool = False) -> None:
    """Apply every migration to the configured database."""
    from server.db import get_engine
    from server.migrate import upgrade

    upgrade(get_engine())
    if not quiet:
        print(f"Database is up to date: {get_engine().url.render_as_string(hide_password=True)}")


def served_app() -> FastAPI:
    """The web app as each server process builds it (uvicorn's factory with --workers)."""
    from server.app import create_app

    if not logging.getLogger().handlers:  # a process uvicorn spawned (--workers): log as the parent does
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    app = create_app()
    # Everything alive now (modules, routes, schemas, mappers: about 200,000 objects) lives as long as the
    # process. Frozen, the cyclic collector stops walking it again and again: a 1,000-point batch makes a
    # few thousand objects, enough to set off collections every request, and validating its body took
    # 4.2 ms instead of 0.7 ms with the heap unfrozen. A larger first generation (10,000 objects instead of
    # 700) halves the number of young collections such a request sets off.
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    return app


def serve(host: str, port: int, *, migrate: bool, workers: int = 1) -> None:
    """Run the web server: in this process, or in `workers` processes (one of them leads the reaper)."""
    import uvicorn

    _refuse_open_without_auth(host)
    if migrate:
        db_upgrade()
    prepare_accounts()
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "access_log": get_settings().access_log,
        "http": "httptools",  # the C parser (uvicorn[standard]); "auto" falls back to h11 silently
        "timeout_graceful_shutdown": 10,
    }
    if workers > 1:
        from server.observability import prepare_multiprocess_metrics

        prepare_multiprocess_metrics(get_settings().resolved_home)
        uvicorn.run("trainboard.cli:served_app", factory=True, workers=workers, **options)
    else:
        uvicorn.run(served_app(), **options)


def worker_argv(queues: str, concurrency: int) -> list[str]:
    # Workers never talk to each other (the server schedules), so gossip and mingle only add broker traffic
    # and a noisy traceback when the broker restarts.
    return [
        "worker",
        "--loglevel=INFO",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-n",
        "trainboard@%h",
        "--without-gossip",
        "--without-mingle",
    ]


def worker(queues: str, concurrency: int) -> None:
    """Run a Celery worker in this process."""
    from worker.celery_app import app

    app.worker_main(worker_argv(queues, concurrency))


def up(host: str, port: int) -> None:
    """Server and one real worker process with the embedded defaults (SQLite and a SQLite broker).

    Quiet on purpose: the URL is the last line it prints (`make run`), the worker writes to a log file, and
    SIGTERM or Ctrl+C stop the worker (its run handed back) and then the server (trainboard/supervise.py)."""
    import uvicorn

    from trainboard import supervise

    _refuse_open_without_auth(host)
    problem = supervise.port_problem(host, port)
    if problem:
        sys.exit(
            f"Cannot start Trainboard: {problem}. Stop what uses it, or pick another port: "
            f"trainboard up --port 8080 (make run PORT=8080)."
        )
    settings = get_settings()
    home = private_dir(settings.resolved_home)
    logging.getLogger().setLevel(logging.WARNING)  # no INFO lines after the URL (migrations, the reaper)
    db_upgrade(quiet=True)
    reach = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + reach + ']' if ':' in reach else reach}:{port}"
    env = {**os.environ, "TRAINBOARD_SERVER_URL": url, "TRAINBOARD_HOME": str(settings.resolved_home)}
    if settings.auth_enabled:
        prepare_accounts()
        env["TRAINBOARD_API_TOKEN"] = embedded_worker_token()
    command = [
        sys.executable,
        "-m",
        "trainboard.cli",
        "worker",
        "--concurrency",
        str(settings.worker_concurrency),
    ]
    say = supervise.say_to(sys.stderr)
    supervisor = supervise.WorkerSupervisor(command, env=env, log=home / "worker.log", say=say)
    config = uvicorn.Config(
        served_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=settings.access_log,
        http="httptools",
        timeout_graceful_shutdown=supervise.SERVER_STOP_S,
    )
    server = uvicorn.Server(config)
    with supervise.StopSignals() as signals:
        supervisor.start()
        print(f"Data in {settings.resolved_home}; the worker logs to {supervisor.log}. Ctrl+C stops it.")
        print(f"Trainboard is running at {url}", flush=True)
        status = supervise.run_until_stopped(
            server.run, lambda: setattr(server, "should_exit", True), supervisor, signals=signals
        )
    raise SystemExit(status)


def sync(spool_root: Path | None = None, client: Client | None = None) -> int:
    """Send what the spool folder (`<home>/spool/`) holds: offline runs, created on the server with their
    points, predictions and end; and points of runs that ended while the server was away.

    Repeating it is safe: an offline run is created with its id as the Idempotency-Key, and points are
    stored once per (run, key, step). Returns the exit status: 1 when something could not be sent."""
    from trainboard._offline import offline_folders, sync_offline
    from trainboard._spool import abandoned_spools, remove_spool, segments
    from trainboard.client import Client, TrainboardError

    root = spool_root or get_settings().resolved_home / "spool"
    failed = 0
    with client or Client() as client:
        for folder in offline_folders(root):
            try:
                run, sent = sync_offline(client, folder)
            except TrainboardError as exc:
                failed += 1
                print(f"{folder.name}: {exc}; it stays in {folder}", file=sys.stderr)
                continue
            print(
                f"{folder.name}: created run {run['id']} with {sent} metric points: "
                f"{client.server_url}/runs/{run['id']}"
            )
        for run_id, folder in abandoned_spools(root):
            sent = 0
            try:
                for path, points in segments(folder):
                    sent += client.log_metrics(run_id, points)
                    path.unlink()
            except TrainboardError as exc:
                failed += 1
                print(f"run {run_id}: {exc}; its points stay in {folder}", file=sys.stderr)
                continue
            remove_spool(folder)
            print(f"run {run_id}: sent {sent} metric points")
    return 1 if failed else 0


def agent(sweep_id: int, command: list[str], *, count: int | None, grace_s: float) -> int:
    """Run `command` once per trial of a script sweep; returns the exit status (1 with one line on a bad
    sweep, 130 when interrupted)."""
    from trainboard.agent import AgentError, run_agent, say
    from trainboard.client import Client

    settings = get_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the command's
    # A `kill` (a cluster's job ending) stops the trial in order, as Ctrl+C does.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with Client() as client:
            run_agent(
                sweep_id,
                command,
                client=client,
                server_url=settings.server_url,
                token=settings.api_token,
                count=count,
                grace_s=grace_s,
            )
    except AgentError as exc:
        print(f"trainboard agent: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    return 0


def import_runs(args: argparse.Namespace) -> int:
    """`trainboard import mlflow|tensorboard`: copy runs into the server with a progress bar; 1 on failure."""
    import httpx
    from tqdm import tqdm

    from trainboard.importers._mlflow_rest import ImportFailure
    from trainboard.importers.mlflow import import_mlflow
    from trainboard.importers.tensorboard import import_tensorboard

    settings = get_settings()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bars: list[tqdm] = []

    def progress(total: int) -> Callable[[int], object]:
        bar = tqdm(total=total, unit="run", file=sys.stderr, desc=f"importing {args.import_kind}")
        bars.append(bar)
        update: Callable[[int], object] = bar.update
        return update

    def client(url: str, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=300)

    try:
        with client(settings.server_url, settings.api_token) as target:
            if args.import_kind == "mlflow":
                with client(args.tracking_uri, args.tracking_token) as source:
                    done = import_mlflow(
                        source,
                        target,
                        source_uri=args.tracking_uri,
                        experiment=args.experiment,
                        project=args.project,
                        progress=progress,
                    )
            else:
                done = import_tensorboard(args.logdir, target, project=args.project, progress=progress)
    except (ImportFailure, FileNotFoundError) as exc:
        print(f"trainboard import: {exc}", file=sys.stderr)
        return 1
    finally:
        for bar in bars:
            bar.close()
    print(
        f"imported {done.runs} runs ({done.new_runs} new, {done.runs - done.new_runs} already there) "
        f"with {done.points} metric points into {settings.server_url}"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainboard", description="Trainboard experiment tracker.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("up", "server and one worker, embedded defaults"), ("serve", "the web server alone")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--host", default="127.0.0.1")
        sub.add_argument("--port", type=int, default=8000)
        if name == "serve":
            sub.add_argument(
                "--workers",
                type=int,
                default=1,
                help="server processes (default 1); one at a time runs the reaper (elected in the database)",
            )
    work = commands.add_parser("worker", help="a training worker alone")
    work.add_argument(
        "--queues",
        default=f"{DEFAULT_QUEUE},cpu",
        help=f"comma-separated queues (default: {DEFAULT_QUEUE},cpu)",
    )
    work.add_argument("--concurrency", type=int, default=None, help="training processes (default: settings)")
    commands.add_parser(
        "sync",
        help="send offline runs, and metric points that ended runs left in the spool folder (server away)",
    )
    run_trials = commands.add_parser(
        "agent",
        help="run your own command once per trial of a script sweep",
        usage="trainboard agent SWEEP_ID [--count N] [--grace S] -- COMMAND ...",
        description="Ask the server for the sweep's next trial, run COMMAND with TRAINBOARD_RUN_ID set "
        "(trainboard.init() in it attaches to the trial, run.config holds the sampled values), repeat.",
    )
    run_trials.add_argument("sweep_id", type=int, metavar="SWEEP_ID")
    run_trials.add_argument("--count", type=int, default=None, help="run at most N trials, then stop")
    run_trials.add_argument(
        "--grace",
        type=float,
        default=10.0,
        help="seconds a stopped trial's command gets after SIGINT before SIGTERM (default 10)",
    )
    imports = commands.add_parser("import", help="copy runs from an MLflow server or TensorBoard logs")
    kinds = imports.add_subparsers(dest="import_kind", required=True)
    from_mlflow = kinds.add_parser("mlflow", help="an MLflow tracking server's experiments and runs")
    from_mlflow.add_argument(
        "--tracking-uri", required=True, help="the MLflow server, e.g. http://mlflow:5000"
    )
    from_mlflow.add_argument("--experiment", default=None, help="only this experiment (default: all active)")
    from_mlflow.add_argument("--tracking-token", default=None, help="bearer token for the MLflow server")
    from_mlflow.add_argument(
        "--project", default=None, help="into this project (default: each experiment's name)"
    )
    from_tb = kinds.add_parser("tensorboard", help="scalars of TensorBoard event files, one run per folder")
    from_tb.add_argument("logdir", type=Path, metavar="LOGDIR")
    from_tb.add_argument("--project", default=None, help="into this project (default: LOGDIR's name)")
    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations")
    admin.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    keep_private()  # what the server, the worker and the migrations create is the user's alone
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    words = list(sys.argv[1:] if argv is None else argv)
    # `agent`'s COMMAND follows "--" and keeps its own options (python train.py --lr 3).
    command = words[words.index("--") + 1 :] if "--" in words else []
    parser = build_parser()
    args = parser.parse_args(words[: words.index("--")] if "--" in words else words)
    if args.command == "up":
        up(args.host, args.port)
    elif args.command == "serve":
        if args.workers < 1:
            parser.error(f"serve: --workers must be at least 1, but got {args.workers}")
        serve(args.host, args.port, migrate=True, workers=args.workers)
    elif args.command == "worker":
        worker(args.queues, args.concurrency or get_settings().worker_concurrency)
    elif args.command == "db":
        db_upgrade()
    elif args.command == "sync":
        raise SystemExit(sync())
    elif args.command == "import":
        raise SystemExit(import_runs(args))
    elif args.command in ("users", "tokens"):
        admin.run(args)
    elif args.command == "agent":
        if not command:
            parser.error("agent: give the command after --, e.g. trainboard agent 3 -- python train.py")
        raise SystemExit(agent(args.sweep_id, command, count=args.count, grace_s=args.grace))


if __name__ == "__main__":
    main()
