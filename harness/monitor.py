"""The status monitor: polls every node's ``status`` during a run (divergence checker).

One daemon thread asks each node ``{"op": "status"}`` about ``hz`` times a
second, all nodes of a round in parallel on a small pool of its own (so a
paused node's timeout delays neither the other nodes nor the clients' event
loop), from a control-plane source port (systems/common/wire.CONTROL_PORTS:
partitions that cut the harness's clients let it through). Each answer — or
``null`` for no answer — becomes one row of ``status.jsonl`` in the run
folder (checkers/divergence.status_row), timed on the interpreter's clock.

Polls are cheap (one small frame each way); the cost is measured by
``bench/monitor.py``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from checkers.divergence import STATUS_FILE, status_row
from systems.common import wire
from systems.common.spec import Addr

__all__ = ["StatusMonitor"]


class StatusMonitor:
    def __init__(
        self, cluster: Mapping[str, Addr], run_dir: Path, now_ns: Callable[[], int],
        hz: float = 5.0,
    ) -> None:
        self.cluster = dict(cluster)
        self.path = run_dir / STATUS_FILE
        self.now_ns = now_ns
        self.interval_s = 1.0 / hz
        self.timeout_s = min(0.5, max(0.1, self.interval_s))
        self.rounds = 0
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max(1, len(self.cluster)), thread_name_prefix="status")
        self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by stop()
        self._thread = threading.Thread(target=self._loop, name="status-monitor", daemon=True)
        self._thread.start()

    def _ask(self, node: str) -> dict[str, Any]:
        host, port = self.cluster[node]
        st: Any = None
        try:
            st = wire.request(host, port, {"op": "status"}, timeout_s=self.timeout_s, control=True)
        except (OSError, ValueError):
            st = None
        if not isinstance(st, dict) or st.get("ok") is False:
            st = None
        return status_row(node, self.now_ns(), st)

    def _loop(self) -> None:
        while not self._stop.is_set():
            rows = list(self._pool.map(self._ask, sorted(self.cluster)))
            self._file.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
            self._file.flush()
            self.rounds += 1
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        """Ends the polling (after the round in flight) and closes the file; idempotent."""
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)
        if not self._file.closed:
            self._file.close()
