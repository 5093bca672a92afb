"""The HTTP client of /api/v1: retries, idempotency keys, one typed method per call the library makes."""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from pydantic_core import to_json

from models.config import RunConfig
from trainboard.settings import get_settings

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
_JSON = {"Content-Type": "application/json"}
#: Points a run's buffer collects before it sends them (the flush interval sends fewer).
METRICS_BATCH = 1000
#: The most points one request carries: a backlog (a script logging faster than one request a batch, or
#: points kept while the server was away) goes in requests of up to this many, not of METRICS_BATCH each.
#: Per point, one request of 10,000 costs the server about half of what ten of 1,000 do (it stored 2.1x the
#: points per second on SQLite and 1.7x on PostgreSQL, bench/RESULTS.md); it takes up to 100,000 a request.
METRICS_REQUEST_MAX = 10_000
#: How many of a backlog's requests may be in flight at once: while the database stores one request's
#: points, the server reads the next one's body (bench/RESULTS.md). Only requests that can be stored in any
#: order are in flight together (`MetricsBatch.follows`).
METRICS_REQUESTS_IN_FLIGHT = 2
#: What became of a request: the server's response, or the exception it ended with.
Outcome = httpx.Response | None | Exception
PREDICTIONS_BATCH = 5000
SPLITS = ("dev", "test", "train_dev", "train")
FINISHED = ("succeeded", "failed", "diverged", "cancelled")


class TrainboardError(Exception):
    """A call the server refused (`status_code` set) or could not be reached (`status_code` None)."""

    def __init__(self, message: str, *, status_code: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


def check_status(status: str) -> None:
    """ValueError unless `status` is one a run can finish with."""
    if status not in FINISHED:
        raise ValueError(f"status must be one of {FINISHED}, but got {status=}")


def check_split(split: str) -> None:
    """ValueError unless `split` names one of the four splits."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, but got {split=}")


def check_artifact_name(name: str) -> None:
    """An artifact's name is a relative path without '..' or empty parts (the server says the same)."""
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"artifact name must be a relative path like 'model/best.pt', got {name!r}")


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


def series_body(points: list[dict[str, Any]]) -> dict[str, Any]:
    """A batch of points {"key", "step", "value", "timestamp"?} in the server's compact form: one object of
    columns per key (its steps, values and timestamps), in the order the keys first appear. The server reads
    each key and column once: half the bytes and half the parsing of one object per point."""
    series: dict[str, dict[str, Any]] = {}
    seconds: dict[Any, Any] = {}
    for point in points:
        key = point["key"]
        columns = series.get(key)
        if columns is None:
            columns = series[key] = {"key": key, "steps": [], "values": [], "timestamps": []}
        columns["steps"].append(point["step"])
        columns["values"].append(point["value"])
        stamp = point.get("timestamp")
        if stamp not in seconds:
            seconds[stamp] = _epoch_seconds(stamp)
        columns["timestamps"].append(seconds[stamp])
    for columns in series.values():
        if all(stamp is None for stamp in columns["timestamps"]):
            del columns["timestamps"]  # the server stamps them on arrival
        _check_finite(columns["key"], columns["values"])
    return {"series": list(series.values())}


@dataclass(frozen=True)
class MetricsBatch:
    """One request's points and its body, built once; `spans` holds each key's first and last step (None
    when some step is no number: the server's 422 will name it)."""

    points: list[dict[str, Any]]
    body: bytes
    spans: dict[str, tuple[Any, Any]] | None

    def follows(self, earlier: Sequence[MetricsBatch]) -> bool:
        """Whether each of this batch's keys starts after its last step in every `earlier` batch. Then no
        (key, step) is in two of them, and storing them in any order stores the same points: the server
        keeps the first value sent for a (key, step), and summaries and rollups do not depend on order."""
        if self.spans is None:
            return False
        for batch in earlier:
            if batch.spans is None:
                return False
            for key in batch.spans.keys() & self.spans.keys():
                if not batch.spans[key][1] < self.spans[key][0]:
                    return False
        return True


def metrics_batch(points: list[dict[str, Any]]) -> MetricsBatch:
    """The batch of `points` with its series body (ValueError naming a key that holds NaN or infinity)."""
    series = series_body(points)
    try:
        spans = {s["key"]: (min(s["steps"]), max(s["steps"])) for s in series["series"]}
    except TypeError:
        spans = None
    return MetricsBatch(points, to_json(series), spans)


class _InFlight:
    """A batch being sent on a thread of its own."""

    def __init__(self, batch: MetricsBatch, send: Callable[[], httpx.Response | None]) -> None:
        self.batch = batch
        self._outcome: Outcome = None
        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self._thread.start()

    def _run(self, send: Callable[[], httpx.Response | None]) -> None:
        try:
            self._outcome = send()
        except Exception as exc:  # noqa: BLE001 (handed to whoever settles the batch)
            self._outcome = exc

    def outcome(self) -> Outcome:
        self._thread.join()
        return self._outcome


def _check_finite(key: str, values: list[Any]) -> None:
    """ValueError naming `key` if a value is NaN or infinite (JSON has neither, and the server would refuse
    the whole batch). One C loop: a sum is finite when every number is, short of overflow; the slow look
    only then. Values that are no numbers are left to the server, whose 422 names the field."""
    try:
        if math.isfinite(sum(values)) or all(map(math.isfinite, values)):
            return
    except TypeError:
        return
    bad = next(value for value in values if not math.isfinite(value))
    raise ValueError(f"metric {key!r} holds {bad}: only finite numbers can be sent")


def _epoch_seconds(stamp: Any) -> Any:
    """An ISO 8601 time with an offset as seconds since the epoch, where that number reads back as the same
    microsecond (the server rounds to the nearest, as `fromtimestamp`; a double holds a microsecond exactly
    until about 2286) and is read as seconds (the server reads numbers past 2e10 as milliseconds); anything
    else as sent."""
    if type(stamp) is not str:
        return stamp
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    if when.utcoffset() is None:
        return stamp
    number = when.timestamp()
    if not 0 <= number < 1e10 or datetime.fromtimestamp(number, UTC) != when:
        return stamp
    return number


def _refuses_series(exc: TrainboardError) -> bool:
    """A server from before the series form: it refuses the field as unknown."""
    return exc.status_code == 422 and any(
        isinstance(error, dict) and error.get("loc") == ["body", "series"] for error in exc.detail or []
    )


def _idempotent(key: str | None = None) -> dict[str, str]:
    """An Idempotency-Key (`key`, else a fresh one): every retry of one logical POST carries the same one,
    so it creates once."""
    return {"Idempotency-Key": key or str(uuid.uuid4())}


def is_transient(exc: TrainboardError) -> bool:
    """Worth retrying: the server was not reached, or it answered 5xx (its database may be away) or 429."""
    return exc.status_code is None or exc.status_code >= 500 or exc.status_code == 429


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
        self.server_url = server_url.rstrip("/")
        self.base_url = self.server_url + API_PREFIX
        # 8 retries back off 0.5, 1, 2 ... 30 s: about 90 s, enough for a server or database restart.
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self._sleep = sleep
        self._series = True  # metric batches in the compact form, until a server refuses it
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
        return min(self.backoff_s * 2.0**attempt, self.max_backoff_s)

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

    def health(self, *, retries: int | None = None, timeout: float | None = None) -> dict[str, Any]:
        """The server's health report (`retries` and `timeout` override the client's for this call)."""
        options = {} if timeout is None else {"timeout": timeout}
        return self._json("GET", "/health", retries=retries, **options)

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

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """Change project fields, e.g. human_level_error."""
        return self._json("PATCH", f"/projects/{project_id}", json=_plain(fields))

    def create_run(
        self,
        project_id: int,
        *,
        name: str | None = None,
        params: dict[str, Any] | None = None,
        external: bool = True,
        config: dict[str, Any] | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        environment: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Create an external run (the caller trains) or, with external=False, queue one for a worker.

        Runs that differ only by seed share a `group`: the server reports each metric's mean and spread.
        The same `idempotency_key` sent again (a retry, a repeated `trainboard sync`) returns the run the
        first request created."""
        body: dict[str, Any] = {"project_id": project_id}
        optional = {"name": name, "group": group, "tags": tags, "notes": notes, "environment": environment}
        body.update({field: value for field, value in optional.items() if value is not None})
        if external:
            body.update(external=True, params=params or {})
        else:
            body["config"] = config or {}
        return self._json("POST", "/runs", json=_plain(body), headers=_idempotent(idempotency_key))

    def get_run(self, run_id: int) -> dict[str, Any]:
        """One run, with its resolved config."""
        return self._json("GET", f"/runs/{run_id}")

    def get_run_config(self, run_id: int) -> RunConfig:
        """A queued run's resolved config, typed (`config.hparams.lr`, `config.model`); RunConfigError
        (a ValueError) names a field this library does not know (a newer server wrote it)."""
        return RunConfig.from_stored(self.get_run(run_id).get("config"))

    def get_sweep(self, sweep_id: int, *, retries: int | None = None) -> dict[str, Any]:
        """One sweep, with its trials and progress."""
        return self._json("GET", f"/sweeps/{sweep_id}", retries=retries)

    def next_trial(self, sweep_id: int) -> dict[str, Any] | None:
        """A script sweep's next trial (a running run whose params hold the sampled values), or None when
        none is left. Retries carry one Idempotency-Key, so a lost reply never costs a trial."""
        response = self.request("POST", f"/sweeps/{sweep_id}/next", headers=_idempotent())
        assert response is not None
        return response.json() if response.status_code == 201 else None

    def update_run(self, run_id: int, **fields: Any) -> dict[str, Any]:
        """Change a run's name, notes, tags or environment."""
        return self._json("PATCH", f"/runs/{run_id}", json=_plain(fields))

    def resume_run(self, run_id: int) -> dict[str, Any]:
        """Reopen an external run for its script; the reply adds `last_step`, the highest step logged."""
        return self._json("POST", f"/runs/{run_id}/resume")

    def start_run(
        self,
        run_id: int,
        *,
        worker: str,
        device: str,
        replaces: str | None = None,
        environment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Claim a queued run for a worker; 409 (TrainboardError) when it has already finished.

        `replaces` names a worker known to be dead whose claim this one takes over; `environment` says what
        this worker trains with (device, torch/CUDA versions, host).
        """
        body: dict[str, Any] = {"worker": worker, "device": device, "replaces": replaces}
        if environment is not None:
            body["environment"] = _plain(environment)
        return self._json("POST", f"/runs/{run_id}/start", json=body)

    def release_run(self, run_id: int, *, worker: str, reason: str) -> dict[str, Any]:
        """Hand a run this worker holds back to the queue (it is stopping); 409 when it is no longer its."""
        return self._json("POST", f"/runs/{run_id}/release", json={"worker": worker, "reason": reason})

    def heartbeat(self, run_id: int, *, retries: int | None = None) -> str:
        """Tell the server the run's process is alive; returns the run's status."""
        return self._json("POST", f"/runs/{run_id}/heartbeat", retries=retries)["status"]

    def announce_worker(
        self,
        worker_id: str,
        *,
        hostname: str,
        concurrency: int,
        active_runs: int,
        device: str,
        retries: int | None = None,
    ) -> dict[str, Any]:
        """Tell the server this worker process is alive, with its slots and the runs it trains now."""
        body = {
            "id": worker_id,
            "hostname": hostname,
            "concurrency": concurrency,
            "active_runs": active_runs,
            "device": device,
        }
        return self._json("POST", "/workers/heartbeat", json=body, retries=retries)

    def forget_worker(self, worker_id: str, *, retries: int | None = None) -> None:
        """Tell the server this worker process stops: its slots stop counting at once."""
        self.request("DELETE", f"/workers/{quote(worker_id, safe='')}", ok_404=True, retries=retries)

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
        """Send metric points {"key", "step", "value", "timestamp"?} in batches; returns how many the server
        stored as new (a (key, step) it already had keeps its first value and is not counted)."""
        points = _plain(points)
        done, accepted = 0, 0

        def settle(count: int, outcome: Outcome) -> None:
            nonlocal done, accepted
            if isinstance(outcome, Exception):
                raise outcome
            assert outcome is not None
            done, accepted = done + count, accepted + outcome.json()["accepted"]

        self.send_metrics(run_id, lambda n: points[done : done + n], settle, size=METRICS_REQUEST_MAX)
        return accepted

    def send_metrics(
        self,
        run_id: int,
        peek: Callable[[int], list[dict[str, Any]]],
        settle: Callable[[int, Outcome], object],
        *,
        size: int,
        retries: int | None = None,
    ) -> None:
        """Send a run's points oldest first, in requests of up to `size`, up to METRICS_REQUESTS_IN_FLIGHT of
        them at once (each from a thread of its own): a window that slides, so that the server reads one body
        while its database stores another. `peek(n)` gives up to n of the oldest points not yet settled;
        `settle(count, outcome)` is told, oldest request first, what became of each (its `count` points are
        then settled, or it raises). Stops when `peek` has nothing more or `settle` raises; the requests still
        in flight are waited for, and their points stay unsettled (sent again, the server keeps what it has).
        """
        window: deque[_InFlight] = deque()
        try:
            while True:
                while len(window) < METRICS_REQUESTS_IN_FLIGHT:
                    sent = sum(len(request.batch.points) for request in window)
                    points = peek(sent + size)[sent:]
                    if not points:
                        break
                    batch = metrics_batch(points)
                    if window and not batch.follows([request.batch for request in window]):
                        break  # it goes once those before it are stored
                    window.append(_InFlight(batch, partial(self._post_batch, run_id, batch, retries)))
                if not window:
                    return
                oldest = window.popleft()
                settle(len(oldest.batch.points), oldest.outcome())
        finally:
            for request in window:
                request.outcome()

    def _post_batch(self, run_id: int, batch: MetricsBatch, retries: int | None) -> httpx.Response | None:
        path = f"/runs/{run_id}/metrics"
        if self._series:
            try:
                # The body was written by pydantic_core's JSON writer: 1.4 ms for 10,000 points where
                # json.dumps (httpx's json=) took 10-12 ms, most of a script's own cost of sending them.
                return self.request("POST", path, content=batch.body, headers=_JSON, retries=retries)
            except TrainboardError as exc:
                if not _refuses_series(exc):
                    raise
                self._series = False
        return self.request("POST", path, json={"metrics": batch.points}, retries=retries)

    def log_predictions(self, run_id: int, split: str, predictions: Iterable[dict[str, Any]]) -> int:
        """Send per-example predictions for a split in batches of at most 5000."""
        check_split(split)
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
        check_status(status)
        body = {"status": status, "error": error, "log_tail": log_tail}
        return self._json("POST", f"/runs/{run_id}/finish", json=body)

    def put_checkpoint(self, run_id: int, data: bytes) -> None:
        """Store the run's latest checkpoint bytes."""
        headers = {"Content-Type": "application/octet-stream"}
        self.request("PUT", f"/runs/{run_id}/checkpoint", content=data, headers=headers)

    def put_artifact(self, run_id: int, path: Path, name: str) -> dict[str, Any]:
        """Upload the file at `path` as the run's artifact `name` (a relative path such as
        "model/best.pt"), streamed in 1 MiB chunks; returns {"path", "size", "sha256", ...}."""
        check_artifact_name(name)
        if not Path(path).is_file():
            raise TrainboardError(f"no file at {path}")

        def chunks() -> Iterator[bytes]:
            with Path(path).open("rb") as handle:
                while chunk := handle.read(1 << 20):
                    yield chunk

        headers = {"Content-Type": "application/octet-stream"}
        url = f"/runs/{int(run_id)}/artifacts/{quote(name, safe='/')}"
        # One attempt: a stream cannot be replayed; a failed upload raises and the caller may call again.
        return self._json("PUT", url, content=chunks(), headers=headers, retries=0)

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
            return str(response.headers.get("x-checksum-sha256", ""))

    def get_checkpoint(self, run_id: int) -> bytes | None:
        """The run's latest checkpoint bytes, or None when it has none."""
        response = self.request("GET", f"/runs/{run_id}/checkpoint", ok_404=True)
        return None if response is None else response.content


__all__ = ["FINISHED", "SPLITS", "Client", "TrainboardError", "check_split", "check_status", "is_transient"]
