"""An online run: logged points are buffered and sent in batches from a background thread."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from trainboard._base import BaseRun, Point
from trainboard._http import (
    METRICS_BATCH,
    METRICS_REQUEST_MAX,
    Client,
    Outcome,
    TrainboardError,
    check_status,
    is_transient,
)
from trainboard._spool import PointBuffer
from trainboard.settings import get_settings
from trainboard.system_metrics import run_origin

logger = logging.getLogger("trainboard")

#: Seconds between an external run's heartbeats (the server fails it after TRAINBOARD_EXTERNAL_TIMEOUT_S).
HEARTBEAT_INTERVAL_S = 30.0


class Run(BaseRun):
    """An external run: buffers logged metrics and sends them in batches from a background thread.

    `log` never waits for the server. While the server or its database is away, sending is retried with
    capped exponential back-off and every point is kept: in memory up to `max_buffered_points`, then spooled
    to JSON-lines files under the data folder's `spool/`, replayed in order once the server answers. Only
    points the server refuses (4xx) are dropped, with an error log. `finish` waits, at most
    `finish_timeout_s`, until everything is sent. Re-sent points are stored once (upserted by key and step).

    `config` holds the run's params (dotted keys nested), `summary` the latest value of each metric, `url`
    its page on the server.
    """

    id: int  # the server's run id (an offline run's is a local string)

    def __init__(
        self,
        client: Client,
        run: Mapping[str, Any],
        *,
        batch_size: int = METRICS_BATCH,
        flush_interval_s: float | None = 2.0,
        max_buffered_points: int | None = None,
        finish_timeout_s: float | None = None,
        spool_dir: Path | None = None,
        heartbeat_interval_s: float | None = HEARTBEAT_INTERVAL_S,
    ) -> None:
        run_id = int(run["id"])
        super().__init__(
            run_id=run_id,
            name=str(run.get("name") or f"run-{run_id}"),
            params=run.get("params"),
            summary=run.get("summary"),
            last_step=run.get("last_step"),
            url=f"{client.server_url}/runs/{run_id}",
        )
        settings = get_settings()
        self.client, self.data, self.id = client, dict(run), run_id
        self._created = run_origin(run) or self._created
        self.batch_size, self.flush_interval_s = batch_size, flush_interval_s
        self.finish_timeout_s = settings.finish_timeout_s if finish_timeout_s is None else finish_timeout_s
        self._buffer = PointBuffer(
            max_memory_points=max_buffered_points or settings.max_buffered_points,
            spool_root=spool_dir or settings.resolved_home / "spool",
            prefix=f"run-{self.id}-",
        )
        self._send_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._should_stop: bool = run.get("status", "running") != "running"
        self._failures = 0  # transient send failures in a row; they set the back-off
        self._retry_at = 0.0
        self._thread: threading.Thread | None = None
        self._finish_at_exit()
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

    def _record(self, points: list[Point]) -> None:
        self._buffer.add(points)
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

    def log_predictions(self, split: str, predictions: Iterable[Mapping[str, Any]]) -> int:
        """Send per-example predictions ({"example_id", "label", "predicted", "confidence"?, "loss"?})."""
        return self.client.log_predictions(self.id, split, [dict(p) for p in predictions])

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> dict[str, Any]:
        """Upload the file at `path` as the run's artifact `name` (default: the file's name), streamed;
        returns the server's record ({"path", "size", "sha256", ...}). Raises TrainboardError when the
        server refuses it (too large: 413) or cannot be reached."""
        file = Path(path)
        return self.client.put_artifact(self.id, file, name if name is not None else file.name)

    def finish(
        self, status: str = "succeeded", error: str | None = None, *, timeout_s: float | None = None
    ) -> None:
        """Send every buffered point, then mark the run finished (again is a no-op).

        Waits at most `timeout_s` (default `finish_timeout_s`) for a server that is away; past that it raises
        TrainboardError and leaves the unsent points on disk, in `spool_folder`.
        """
        if self.finished:
            return
        check_status(status)
        self._stop_system_metrics()
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
            self._stop_finishing_at_exit()
            unsent = len(self._buffer)
            if unsent:
                folder = self._buffer.spill()
                logger.error(
                    "run %d: %d metric points were not sent; they are kept in %s", self.id, unsent, folder
                )

    def _send_pending(self, *, retries: int | None) -> None:
        """Send the buffered points oldest first; a transient failure raises and keeps the unsent ones."""
        with self._send_lock:
            # A backlog goes in requests of up to METRICS_REQUEST_MAX points, not batch_size each: a request
            # costs the server a fixed part besides its points, and a script logging faster than the
            # round trips would otherwise fall further behind. Up to METRICS_REQUESTS_IN_FLIGHT of them are
            # in flight at once (Client.send_metrics). Points leave the buffer in order: after a transient
            # failure, the requests behind it keep theirs, even those stored meanwhile.
            size = max(self.batch_size, METRICS_REQUEST_MAX)
            self.client.send_metrics(self.id, self._buffer.peek, self._settle, size=size, retries=retries)

    def _settle(self, count: int, outcome: Outcome) -> None:
        """Drop a sent batch's `count` points from the buffer, or raise what kept it from being sent."""
        if isinstance(outcome, TrainboardError):
            if is_transient(outcome):
                raise outcome
            logger.error("server refused %d metric points of run %d: %s", count, self.id, outcome)
        elif isinstance(outcome, Exception):
            raise outcome
        # The reply is {"accepted": n}, with "should_stop": true once the run was stopped.
        elif outcome is not None and b"should_stop" in outcome.content:
            if outcome.json().get("should_stop"):
                self._stopped_by_server("early stopping or a cancel")
        self._buffer.drop(count)
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
                if not is_transient(exc) or time.monotonic() >= deadline:
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


__all__ = ["HEARTBEAT_INTERVAL_S", "Run"]
