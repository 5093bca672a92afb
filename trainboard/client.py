"""The client library: users' scripts and the worker report to the server through it (one ingestion path)."""

from __future__ import annotations

import atexit
import logging
import math
import sys
import threading
import time
import types
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from trainboard._spool import PointBuffer
from trainboard.metric_keys import value_problem
from trainboard.params import merged, nest
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
METRICS_BATCH = 1000
PREDICTIONS_BATCH = 5000
SPLITS = ("dev", "test", "train_dev", "train")
FINISHED = ("succeeded", "failed", "diverged", "cancelled")


class TrainboardError(Exception):
    """A call the server refused (`status_code` set) or could not be reached (`status_code` None)."""

    def __init__(self, message: str, *, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _plain(value: Any) -> Any:
    """Numpy and torch scalars become Python numbers so the payload is plain JSON."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


def _idempotent() -> dict[str, str]:
    """A fresh Idempotency-Key: every retry of one logical POST carries the same one, so it creates once."""
    return {"Idempotency-Key": str(uuid.uuid4())}


def _detail_of(response: httpx.Response) -> Any:
    try:
        return response.json().get("detail", response.text)
    except (ValueError, AttributeError):
        return response.text


class Client:
    """Thin typed wrapper over /api/v1 with retries on connection errors, 5xx and 429 (never other 4xx)."""

    def __init__(
        self,
        server_url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        *,
        retries: int = 8,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if server_url is None or token is None:
            settings = get_settings()
            server_url = server_url if server_url is not None else settings.server_url
            token = token if token is not None else settings.api_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = server_url.rstrip("/") + API_PREFIX
        # 8 retries back off 0.5, 1, 2 ... 30 s: about 90 s, enough for a server or database restart.
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after the `attempt`-th failure in a row (0 first): doubling, capped."""
        return min(self.backoff_s * 2**attempt, self.max_backoff_s)

    def request(
        self, method: str, path: str, *, ok_404: bool = False, retries: int | None = None, **kwargs: Any
    ) -> httpx.Response | None:
        """Send one request, retrying transient failures with exponential back-off; 4xx raise at once.

        `retries` overrides the client's count for this call (0: one attempt, for callers that retry later).
        """
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            last_try = attempt == retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if last_try:
                    raise TrainboardError(f"cannot reach {self.base_url}: {exc}") from exc
                logger.warning("%s %s failed (%s); retrying", method, path, exc)
            else:
                if response.status_code == 404 and ok_404:
                    return None
                if response.status_code < 400:
                    return response
                retryable = response.status_code >= 500 or response.status_code == 429
                if not retryable or last_try:
                    detail = _detail_of(response)
                    raise TrainboardError(
                        f"{method} {path} -> {response.status_code}: {detail}",
                        status_code=response.status_code,
                        detail=detail,
                    )
                logger.warning("%s %s -> %d; retrying", method, path, response.status_code)
            self._sleep(self.backoff(attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        assert response is not None
        return response.json() if response.content else None

    def health(self) -> dict[str, Any]:
        """The server's health report."""
        return self._json("GET", "/health")

    def find_project(self, name: str) -> dict[str, Any] | None:
        """The project called exactly `name`, or None."""
        page = self._json("GET", "/projects", params={"name": name})
        return next((p for p in page.get("items", []) if p.get("name") == name), None)

    def create_project(self, name: str, dataset: str = "external", **fields: Any) -> dict[str, Any]:
        """Create a project; `fields` may carry human_level_error, optimizing_metric, satisficing."""
        body = _plain({"name": name, "dataset": dataset, **fields})
        return self._json("POST", "/projects", json=body, headers=_idempotent())

    def get_or_create_project(self, name: str, dataset: str = "external") -> dict[str, Any]:
        """Find the project called `name`, creating it when missing (a lost creation race is retried)."""
        project = self.find_project(name)
        if project is not None:
            return project
        try:
            return self.create_project(name, dataset)
        except TrainboardError as exc:
            project = self.find_project(name) if exc.status_code == 409 else None
            if project is None:
                raise
            return project

    def create_run(
        self,
        project_id: int,
        *,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        external: bool = True,
        config: dict[str, Any] | None = None,
        group: str | None = None,
    ) -> dict[str, Any]:
        """Create an external run (the caller trains) or, with external=False, queue one for a worker.

        Runs that differ only by seed share a `group`: the server reports each metric's mean and spread."""
        body: dict[str, Any] = {"project_id": project_id}
        if name is not None:
            body["name"] = name
        if group is not None:
            body["group"] = group
        if external:
            body.update(external=True, params=params or {})
        else:
            body["config"] = config or {}
        return self._json("POST", "/runs", json=_plain(body), headers=_idempotent())

    def get_run(self, run_id: int) -> dict[str, Any]:
        """One run, with its resolved config."""
        return self._json("GET", f"/runs/{run_id}")

    def get_sweep(self, sweep_id: int, *, retries: int | None = None) -> dict[str, Any]:
        """One sweep, with its trials and progress."""
        return self._json("GET", f"/sweeps/{sweep_id}", retries=retries)

    def next_trial(self, sweep_id: int) -> dict[str, Any] | None:
        """A script sweep's next trial (a running run whose params hold the sampled values), or None when
        none is left. Retries carry one Idempotency-Key, so a lost reply never costs a trial."""
        response = self.request("POST", f"/sweeps/{sweep_id}/next", headers=_idempotent())
        assert response is not None
        return response.json() if response.status_code == 201 else None

    def start_run(
        self, run_id: int, *, worker: str, device: str, replaces: str | None = None
    ) -> dict[str, Any]:
        """Claim a queued run for a worker; 409 (TrainboardError) when it has already finished.

        `replaces` names a worker known to be dead whose claim this one takes over.
        """
        body = {"worker": worker, "device": device, "replaces": replaces}
        return self._json("POST", f"/runs/{run_id}/start", json=body)

    def heartbeat(self, run_id: int, *, retries: int | None = None) -> str:
        """Tell the server the run's process is alive; returns the run's status."""
        return self._json("POST", f"/runs/{run_id}/heartbeat", retries=retries)["status"]

    def report_progress(
        self,
        run_id: int,
        *,
        epoch: int,
        epochs: int,
        step: int,
        steps: int,
        examples_per_sec: float | None = None,
        eta_s: float | None = None,
        retries: int | None = None,
    ) -> str:
        """Heartbeat with progress; returns the run's current status ("cancelled" means stop)."""
        body: dict[str, Any] = {"epoch": epoch, "epochs": epochs, "step": step, "steps": steps}
        if examples_per_sec is not None and math.isfinite(examples_per_sec):
            body["examples_per_sec"] = examples_per_sec
        if eta_s is not None and math.isfinite(eta_s):
            body["eta_s"] = eta_s
        return self._json("POST", f"/runs/{run_id}/progress", json=body, retries=retries)["status"]

    def log_metrics(self, run_id: int, points: list[dict[str, Any]]) -> int:
        """Send metric points {"key", "step", "value", "timestamp"?} in batches; returns accepted count."""
        accepted = 0
        for batch in _chunks(_plain(points), METRICS_BATCH):
            accepted += self._json("POST", f"/runs/{run_id}/metrics", json={"metrics": batch})["accepted"]
        return accepted

    def log_predictions(self, run_id: int, split: str, predictions: Iterable[dict[str, Any]]) -> int:
        """Send per-example predictions for a split in batches of at most 5000."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, but got {split=}")
        accepted = 0
        for batch in _chunks(_plain(list(predictions)), PREDICTIONS_BATCH):
            body = {"split": split, "predictions": batch}
            accepted += self._json("POST", f"/runs/{run_id}/predictions", json=body)["accepted"]
        return accepted

    def label_corrections(self, project_id: int, version: int) -> dict[str, int | str]:
        """Corrected labels (example id -> label) in force in the project's dataset `version`."""
        body = self._json("GET", f"/projects/{project_id}/label-corrections", params={"version": version})
        return {c["example_id"]: c["corrected_label"] for c in body["corrections"]}

    def finish_run(
        self, run_id: int, status: str = "succeeded", error: str | None = None, *, log_tail: str | None = None
    ) -> dict[str, Any]:
        """Mark a run finished with `status`, an optional one-line error and its command's stderr tail."""
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, but got {status=}")
        body = {"status": status, "error": error, "log_tail": log_tail}
        return self._json("POST", f"/runs/{run_id}/finish", json=body)

    def put_checkpoint(self, run_id: int, data: bytes) -> None:
        """Store the run's latest checkpoint bytes."""
        headers = {"Content-Type": "application/octet-stream"}
        self.request("PUT", f"/runs/{run_id}/checkpoint", content=data, headers=headers)

    def get_dataset(self, dataset_id: int) -> dict[str, Any]:
        """An uploaded dataset's metadata (kind, input_shape, n_classes, sha256, ...)."""
        return self._json("GET", f"/datasets/{int(dataset_id)}")

    def download_dataset(self, dataset_id: int, dest: Path) -> str:
        """Stream an uploaded dataset's .npz to `dest`; returns the checksum the server announced."""
        with self._http.stream("GET", f"/datasets/{int(dataset_id)}/file") as response:
            if response.status_code >= 400:
                response.read()
                raise TrainboardError(
                    f"GET /datasets/{dataset_id}/file -> {response.status_code}: {_detail_of(response)}",
                    status_code=response.status_code,
                    detail=_detail_of(response),
                )
            with dest.open("wb") as handle:
                for chunk in response.iter_bytes(1 << 20):
                    handle.write(chunk)
            return response.headers.get("x-checksum-sha256", "")

    def get_checkpoint(self, run_id: int) -> bytes | None:
        """The run's latest checkpoint bytes, or None when it has none."""
        response = self.request("GET", f"/runs/{run_id}/checkpoint", ok_404=True)
        return None if response is None else response.content


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _transient(exc: TrainboardError) -> bool:
    """Worth retrying: the server was not reached, or it answered 5xx (its database may be away) or 429."""
    return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429


#: Seconds between an external run's heartbeats (the server fails it after TRAINBOARD_EXTERNAL_TIMEOUT_S).
HEARTBEAT_INTERVAL_S = 30.0


class Run:
    """An external run: buffers logged metrics and sends them in batches from a background thread.

    `log` never waits for the server. While the server or its database is away, sending is retried with
    capped exponential back-off and every point is kept: in memory up to `max_buffered_points`, then spooled
    to JSON-lines files under the data folder's `spool/`, replayed in order once the server answers. Only
    points the server refuses (4xx) are dropped, with an error log. `finish` waits, at most
    `finish_timeout_s`, until everything is sent. Re-sent points are stored once (upserted by key and step).
    """

    def __init__(
        self,
        client: Client,
        run: dict[str, Any],
        *,
        batch_size: int = METRICS_BATCH,
        flush_interval_s: float | None = 2.0,
        max_buffered_points: int | None = None,
        finish_timeout_s: float | None = None,
        spool_dir: Path | None = None,
        heartbeat_interval_s: float | None = HEARTBEAT_INTERVAL_S,
    ) -> None:
        settings = get_settings()
        self.client, self.data, self.id = client, run, int(run["id"])
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.finish_timeout_s = settings.finish_timeout_s if finish_timeout_s is None else finish_timeout_s
        self.finished = False
        # The run's params nested by their dotted names: {"optimizer.lr": 0.01} -> config["optimizer"]["lr"].
        self.config: dict[str, Any] = _nested(run.get("params") or {})
        self._should_stop = run.get("status", "running") != "running"
        self._next_step = 1
        self._buffer = PointBuffer(
            max_memory_points=max_buffered_points or settings.max_buffered_points,
            spool_root=spool_dir or settings.resolved_home / "spool",
            prefix=f"run-{self.id}-",
        )
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failures = 0  # transient send failures in a row; they set the back-off
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        _watch_uncaught_exceptions()
        atexit.register(self._at_exit)
        if heartbeat_interval_s:
            # While this process lives the server knows the run is not abandoned, even in a long silence.
            beat = threading.Thread(
                target=self._beat, args=(heartbeat_interval_s,), name=f"trainboard-heartbeat-{self.id}"
            )
            beat.daemon = True
            beat.start()

    def _beat(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            self._beat_once()

    def _beat_once(self) -> None:
        try:
            status = self.client.heartbeat(self.id, retries=0)
        except TrainboardError as exc:
            logger.debug("run %d: heartbeat failed (%s); the next one may get through", self.id, exc)
            return
        if status != "running":
            self._stopped_by_server(f"the run is {status}")

    @property
    def should_stop(self) -> bool:
        """True once the server stopped the run (a sweep's early stopping, a cancel): end training soon.

        Seen in the reply to the metrics the background thread sends, and in the heartbeat's.
        """
        return self._should_stop

    def _stopped_by_server(self, why: str) -> None:
        if not self._should_stop:
            logger.info("run %d: the server stopped it (%s); run.should_stop is now true", self.id, why)
        self._should_stop = True

    @property
    def pending(self) -> int:
        """Points logged but not yet sent."""
        return len(self._buffer)

    @property
    def spooled(self) -> int:
        """Files of points written to disk so far because memory was full (0: the server kept up)."""
        return self._buffer.spooled

    @property
    def spool_folder(self) -> Path | None:
        """Where points wait on disk while the server is away (None when all fit in memory)."""
        return self._buffer.folder

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record metric values at `step` (default: one after the last step; the first is 1)."""
        values = []
        for key, value in metrics.items():
            number = float(_plain(value))
            if not math.isfinite(number):
                raise ValueError(f"metric {key!r} is {number}: only finite numbers can be logged")
            problem = value_problem(str(key), number)
            if problem is not None:  # refused here, not by the server after the batch has left
                raise ValueError(problem)
            values.append(number)
        if step is None:
            step = self._next_step
        if step < 0:
            raise ValueError(f"step must be non-negative, but got {step=}")
        self._next_step = int(step) + 1
        now = datetime.now(UTC).isoformat()
        self._buffer.add(
            [
                {"key": str(key), "step": int(step), "value": value, "timestamp": now}
                for key, value in zip(metrics, values, strict=True)
            ]
        )
        if len(self._buffer) >= self.batch_size:
            if self.flush_interval_s is None:
                self._send_now_unless_backing_off()
            else:
                self._wake.set()
        self._ensure_flusher()

    def flush(self) -> None:
        """Send every buffered point now (with the client's retries); raises TrainboardError, keeping the
        points, when the server stays away. Points the server refused (4xx) are dropped with an error log."""
        self._send_pending(retries=None)

    def log_predictions(self, split: str, predictions: Iterable[dict[str, Any]]) -> int:
        """Send per-example predictions ({"example_id", "label", "predicted", "confidence"?, "loss"?})."""
        return self.client.log_predictions(self.id, split, predictions)

    def finish(
        self, status: str = "succeeded", error: str | None = None, *, timeout_s: float | None = None
    ) -> None:
        """Send every buffered point, then mark the run finished (again is a no-op).

        Waits at most `timeout_s` (default `finish_timeout_s`) for a server that is away; past that it raises
        TrainboardError and leaves the unsent points on disk, in `spool_folder`.
        """
        if self.finished:
            return
        if status not in FINISHED:
            raise ValueError(f"status must be one of {FINISHED}, but got {status=}")
        deadline = time.monotonic() + (self.finish_timeout_s if timeout_s is None else timeout_s)
        self._stop.set()
        self._wake.set()
        body = {"status": status, "error": error}
        try:
            self._until(deadline, lambda: self._send_pending(retries=0))
            self._until(
                deadline, lambda: self.client.request("POST", f"/runs/{self.id}/finish", json=body, retries=0)
            )
        except TrainboardError as exc:
            if exc.status_code != 409:
                raise
            # The server ended the run first (early stopping, a cancel): its status stands.
            logger.info("run %d: %s", self.id, exc.detail)
        finally:
            self.finished = True
            atexit.unregister(self._at_exit)
            unsent = len(self._buffer)
            if unsent:
                folder = self._buffer.spill()
                logger.error(
                    "run %d: %d metric points were not sent; they are kept in %s", self.id, unsent, folder
                )

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: types.TracebackType | None
    ) -> None:
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("cancelled", "interrupted")
        else:
            self.finish("failed", _one_line(exc))

    def _send_pending(self, *, retries: int | None) -> None:
        """Send the buffered points oldest first; a transient failure raises and keeps the unsent ones."""
        with self._send_lock:
            while batch := self._buffer.peek(self.batch_size):
                try:
                    response = self.client.request(
                        "POST", f"/runs/{self.id}/metrics", json={"metrics": batch}, retries=retries
                    )
                    # The reply is {"accepted": n}, with "should_stop": true once the run was stopped.
                    if response is not None and b"should_stop" in response.content:
                        if response.json().get("should_stop"):
                            self._stopped_by_server("early stopping or a cancel")
                except TrainboardError as exc:
                    if _transient(exc):
                        raise
                    logger.error("server refused %d metric points of run %d: %s", len(batch), self.id, exc)
                self._buffer.drop(len(batch))
                if self._failures:
                    logger.info("run %d: the server answers again; sending the kept points", self.id)
                    self._failures = 0

    def _failed(self, exc: TrainboardError) -> float:
        """Count a transient failure; returns the back-off before the next try."""
        wait = self.client.backoff(self._failures)
        if self._failures == 0:
            logger.warning("run %d: server unavailable (%s); keeping metrics and retrying", self.id, exc)
        self._failures += 1
        self._retry_at = time.monotonic() + wait
        return wait

    def _until(self, deadline: float, call: Callable[[], object]) -> None:
        """Call until it succeeds, backing off after transient failures; past `deadline` a failure raises."""
        while True:
            try:
                call()
                return
            except TrainboardError as exc:
                if not _transient(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(min(self._failed(exc), max(deadline - time.monotonic(), 0.0)))

    def _send_now_unless_backing_off(self) -> None:
        if self._failures and time.monotonic() < self._retry_at:
            return
        try:
            self._send_pending(retries=0)
        except TrainboardError as exc:
            self._failed(exc)

    def _ensure_flusher(self) -> None:
        if self.flush_interval_s is None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._flush_periodically, name=f"trainboard-run-{self.id}")
        self._thread.daemon = True
        self._thread.start()

    def _flush_periodically(self) -> None:
        assert self.flush_interval_s is not None
        while not self._stop.is_set():
            if self._failures:
                self._wake.wait(max(self._retry_at - time.monotonic(), 0.0))
            else:
                self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            self._send_now_unless_backing_off()

    def _at_exit(self) -> None:
        """At interpreter exit: finish as failed after an uncaught exception, else as succeeded."""
        if self.finished:
            return
        try:
            if _uncaught is not None:
                self.finish("failed", _one_line(_uncaught))
            else:
                self.finish()
        except TrainboardError as exc:
            logger.error("could not finish run %d at exit: %s", self.id, exc)


_uncaught: BaseException | None = None
_hook_installed = False


def _watch_uncaught_exceptions() -> None:
    """Remember an uncaught exception so the exit handler can mark open runs failed."""
    global _hook_installed
    if _hook_installed:
        return
    previous = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None) -> None:
        global _uncaught
        _uncaught = exc
        previous(exc_type, exc, tb)

    sys.excepthook = hook
    _hook_installed = True


def _nested(params: dict[str, Any]) -> dict[str, Any]:
    try:
        return nest(params)
    except ValueError:  # "a" and "a.b" both given: keep the names as they are
        return dict(params)


def init(
    project: str | None = None,
    name: str | None = None,
    params: dict[str, Any] | None = None,
    dataset: str = "external",
    client: Client | None = None,
    group: str | None = None,
) -> Run:
    """Find or create `project` and start an external run in it.

    Give runs that differ only by seed the same `group`, and the project's groups report each metric's
    mean and sample standard deviation over them (is a gap between two configs more than seed noise?).

    Under `trainboard agent` this attaches to the sweep trial the agent took instead (see
    `attach_to_agent_trial`)."""
    attached = attach_to_agent_trial(defaults=params, client=client)
    if attached is not None:
        return attached
    if project is None:
        raise ValueError("init() needs a project, unless trainboard agent runs the script")
    client = client or Client()
    found = client.get_or_create_project(project, dataset=dataset)
    run = client.create_run(found["id"], name=name, params=params, external=True, group=group)
    logger.info("trainboard run %s started in project %r", run["id"], project)
    return Run(client, run)


# ---------------------------------------------------------------- under trainboard agent


def attach_to_agent_trial(
    *, defaults: dict[str, Any] | None = None, client: Client | None = None
) -> Run | None:
    """The sweep trial `trainboard agent` runs this script for (TRAINBOARD_RUN_ID), or None outside one.

    No run is created: the script logs to the trial, and `run.config` holds the script's `defaults` (the
    params it passed to init, nested or dotted) with the trial's sampled values set over them. The run's
    project and name are the sweep's, whatever the script asked for.
    """
    run_id = get_settings().run_id
    if run_id is None:
        return None
    client = client or Client()
    data = client.get_run(run_id)
    run = Run(client, data)
    try:
        run.config = merged(defaults or {}, data.get("params") or {})
    except ValueError as exc:
        raise ValueError(f"the script's params and sweep {data.get('sweep_id')}'s clash: {exc}") from None
    logger.info("trainboard: attached to run %s of sweep %s", run_id, data.get("sweep_id"))
    return run


__all__ = ["Client", "Run", "TrainboardError", "attach_to_agent_trial", "init"]
