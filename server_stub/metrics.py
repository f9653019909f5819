"""Counters for ``GET /metrics`` (Prometheus text format 0.0.4).

Counters are per process; Prometheus sums processes and computes rates. For people reading
the page directly, push and pull also get a rate over the last minute.

Thread rules: counters are bumped from worker threads and the event loop; one lock guards
them. Rendering reads the live hub on the event loop.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 60.0) -> None:
        self.window_s = window_s
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, n: int, now: float) -> None:
        self.samples.append((now, n))
        self._trim(now)

    def per_second(self, now: float) -> float:
        self._trim(now)
        return sum(n for _, n in self.samples) / self.window_s

    def _trim(self, now: float) -> None:
        while self.samples and self.samples[0][0] < now - self.window_s:
            self.samples.popleft()


class Metrics:
    """Process-wide counters of one HQ app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.push_batches = 0
        self.push_events = {"applied": 0, "duplicate": 0, "rejected": 0}
        self.stock_alerts = 0
        self.member_alerts = 0
        self.member_requests: dict[tuple[str, str], int] = {}
        self.holds_released = 0
        self.pull_requests = 0
        self.pull_changes = 0
        self.resyncs = 0
        self.live_messages = 0
        self.live_dropped: dict[str, int] = {}
        self.refusals: dict[int, int] = {}
        # Newest seq each terminal is known to have (from its pulls and live acks).
        self.cursors: dict[str, int] = {}
        self._push_rate = _Rate()
        self._pull_rate = _Rate()

    def pushed(
        self, applied: int, duplicate: int, rejected: int, alerts: int, member_alerts: int = 0
    ) -> None:
        with self._lock:
            self.push_batches += 1
            self.push_events["applied"] += applied
            self.push_events["duplicate"] += duplicate
            self.push_events["rejected"] += rejected
            self.stock_alerts += alerts
            self.member_alerts += member_alerts
            self._push_rate.add(applied + duplicate + rejected, time.monotonic())

    def pulled(self, changes: int, device_id: str, cursor: int) -> None:
        with self._lock:
            self.pull_requests += 1
            self.pull_changes += changes
            self._pull_rate.add(changes, time.monotonic())
            self._cursor(device_id, cursor)

    def acked(self, device_id: str, cursor: int) -> None:
        with self._lock:
            self._cursor(device_id, cursor)

    def _cursor(self, device_id: str, cursor: int) -> None:
        if cursor > self.cursors.get(device_id, -1):
            self.cursors[device_id] = cursor

    def resync(self) -> None:
        with self._lock:
            self.resyncs += 1

    def live_sent(self, n: int = 1) -> None:
        with self._lock:
            self.live_messages += n

    def live_drop(self, reason: str) -> None:
        with self._lock:
            self.live_dropped[reason] = self.live_dropped.get(reason, 0) + 1

    def member_request(self, op: str, result: str) -> None:
        """A member call (``identify``, ``sign_up``, ``hold``, ``release``) and its
        result (``ok`` or the refusal's error code)."""
        with self._lock:
            key = (op, result)
            self.member_requests[key] = self.member_requests.get(key, 0) + 1

    def swept(self, n: int) -> None:
        with self._lock:
            self.holds_released += n

    def refused(self, status: int) -> None:
        with self._lock:
            self.refusals[status] = self.refusals.get(status, 0) + 1

    def render(
        self,
        *,
        feed_seq: int,
        connections: int,
        backend: str,
    ) -> str:
        """The metrics page."""
        now = time.monotonic()
        with self._lock:
            lines = [
                "# HELP chainpos_info This HQ process.",
                "# TYPE chainpos_info gauge",
                f'chainpos_info{{backend="{backend}"}} 1',
                "# HELP chainpos_feed_seq Newest change feed seq committed.",
                "# TYPE chainpos_feed_seq gauge",
                f"chainpos_feed_seq {feed_seq}",
                "# HELP chainpos_live_connections Terminals on this process's live channel.",
                "# TYPE chainpos_live_connections gauge",
                f"chainpos_live_connections {connections}",
                "# HELP chainpos_push_batches_total Push requests applied.",
                "# TYPE chainpos_push_batches_total counter",
                f"chainpos_push_batches_total {self.push_batches}",
                "# HELP chainpos_push_events_total Pushed events by result.",
                "# TYPE chainpos_push_events_total counter",
                *(
                    f'chainpos_push_events_total{{result="{k}"}} {v}'
                    for k, v in self.push_events.items()
                ),
                "# HELP chainpos_push_events_per_second Pushed events per second, last minute.",
                "# TYPE chainpos_push_events_per_second gauge",
                f"chainpos_push_events_per_second {self._push_rate.per_second(now):.3f}",
                "# HELP chainpos_stock_alerts_total Stock levels driven below zero by sales.",
                "# TYPE chainpos_stock_alerts_total counter",
                f"chainpos_stock_alerts_total {self.stock_alerts}",
                "# HELP chainpos_member_alerts_total Member problems found applying sales.",
                "# TYPE chainpos_member_alerts_total counter",
                f"chainpos_member_alerts_total {self.member_alerts}",
                "# HELP chainpos_member_requests_total Member calls by operation and result.",
                "# TYPE chainpos_member_requests_total counter",
                *(
                    f'chainpos_member_requests_total{{op="{op}",result="{res}"}} {v}'
                    for (op, res), v in sorted(self.member_requests.items())
                ),
                "# HELP chainpos_member_holds_expired_total Expired holds given back by the sweep.",
                "# TYPE chainpos_member_holds_expired_total counter",
                f"chainpos_member_holds_expired_total {self.holds_released}",
                "# HELP chainpos_pull_requests_total Pull requests answered.",
                "# TYPE chainpos_pull_requests_total counter",
                f"chainpos_pull_requests_total {self.pull_requests}",
                "# HELP chainpos_pull_changes_total Changes served by pull.",
                "# TYPE chainpos_pull_changes_total counter",
                f"chainpos_pull_changes_total {self.pull_changes}",
                "# HELP chainpos_pull_changes_per_second Changes pulled per second, last minute.",
                "# TYPE chainpos_pull_changes_per_second gauge",
                f"chainpos_pull_changes_per_second {self._pull_rate.per_second(now):.3f}",
                "# HELP chainpos_resync_total Cursors answered with resync.",
                "# TYPE chainpos_resync_total counter",
                f"chainpos_resync_total {self.resyncs}",
                "# HELP chainpos_live_messages_total Messages sent on live channels.",
                "# TYPE chainpos_live_messages_total counter",
                f"chainpos_live_messages_total {self.live_messages}",
                "# HELP chainpos_live_dropped_total Live connections dropped by HQ, by reason.",
                "# TYPE chainpos_live_dropped_total counter",
                *(
                    f'chainpos_live_dropped_total{{reason="{k}"}} {v}'
                    for k, v in sorted(self.live_dropped.items())
                ),
                "# HELP chainpos_http_refusals_total 4xx answers by status.",
                "# TYPE chainpos_http_refusals_total counter",
                *(
                    f'chainpos_http_refusals_total{{status="{k}"}} {v}'
                    for k, v in sorted(self.refusals.items())
                ),
                "# HELP chainpos_terminal_lag Feed seqs behind the head, per terminal seen here.",
                "# TYPE chainpos_terminal_lag gauge",
                *(
                    f'chainpos_terminal_lag{{device="{d}"}} {max(0, feed_seq - c)}'
                    for d, c in sorted(self.cursors.items())
                ),
            ]
        return "\n".join(lines) + "\n"
