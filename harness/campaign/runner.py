"""Run a campaign: every run as a child process, N at a time, with resume, interrupts and outputs.

Folder: ``<store>/campaigns/<name>/<timestamp>/`` holds ``campaign.toml`` (the
file as given), ``campaign.json`` (rewritten after every run, so even a killed
campaign leaves what finished), ``campaign.html``, ``junit.xml`` and one
store per run, ``<run slug>/``, holding that run's ordinary run folder
(``<system>-<workload>-<faults>/<timestamp>/``: test.json, history, results,
report, node logs) and the child's ``worker.log``.

Interrupts: the children run in their own sessions, so a Ctrl-C reaches only
the campaign, which forwards SIGINT to each running child; the child's
runner tears its nodes down and checks what it recorded; that run is
recorded ``interrupted`` and the summary is written.  A second Ctrl-C kills
the children (and removes their containers).  A child past its time limit
plus a margin gets SIGTERM (same teardown), then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from harness.campaign import results as res
from harness.campaign.junit import write_junit
from harness.campaign.shard import Shard, select
from harness.campaign.spec import Campaign, CaseRun
from harness.errors import UsageError

__all__ = [
    "RunConfig", "CampaignOutcome", "CampaignUI", "CampaignSession", "run_campaign", "run_margin_s",
    "NullUI", "write_outputs",
]

CAMPAIGNS_DIR = "campaigns"
TERM_GRACE_S = 30.0  # after SIGTERM (hang), before SIGKILL
SETUP_MARGIN_S = 120.0  # node start (and image build), teardown, log collection


@dataclass(frozen=True, slots=True)
class RunConfig:
    store: Path = Path("store")
    jobs: int = 1
    fail_fast: bool = False
    max_time_s: float | None = None
    resume: bool = False
    shard: Shard | None = None
    junit: Path | None = None
    report: bool = True
    reraise_interrupt: bool = False  # pytest: a Ctrl-C stops the session after teardown


@dataclass(frozen=True, slots=True)
class CampaignOutcome:
    directory: Path
    records: tuple[dict[str, Any], ...]
    exit_code: int
    interrupted: bool


class CampaignUI(Protocol):
    def start(self, name: str, total: int, done: int) -> None: ...
    def run_started(self, run: CaseRun) -> None: ...
    def run_progress(self, run: CaseRun, progress: dict[str, Any]) -> None: ...
    def run_finished(self, run: CaseRun, record: dict[str, Any]) -> None: ...
    def notice(self, msg: str) -> None: ...
    def close(self) -> None: ...


def run_margin_s(run: CaseRun) -> float:
    """How long a run may take before it counts as hung."""
    o = run.options
    return o.time_limit_s + o.recovery_s + max(10.0, 4 * o.op_timeout_s) + o.check_budget_s + SETUP_MARGIN_S


@dataclass
class _Active:
    run: CaseRun
    proc: subprocess.Popen[str]
    store: Path
    log: IO[str]
    started: float
    deadline: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    reader: threading.Thread | None = None
    stopped: bool = False  # we asked it to stop (Ctrl-C, --max-time)
    hung: bool = False
    kill_at: float | None = None


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def campaign_dir(store: Path, name: str, resume: bool) -> tuple[Path, dict[str, dict[str, Any]]]:
    """A new timestamped folder, or with ``resume`` the newest one and its finished records."""
    base = Path(store) / CAMPAIGNS_DIR / name
    if resume:
        olds = sorted((p for p in base.glob("*") if (p / res.CAMPAIGN_FILE).is_file()
                       and not p.name.startswith("merged-")), key=lambda p: p.name)
        if not olds:
            raise UsageError(f"--resume: no earlier run of campaign {name!r} under {base}")
        doc = res.read_campaign(olds[-1])
        return olds[-1], {r["id"]: r for r in doc["runs"] if r.get("status") in res.FINISHED}
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    d, n = base / stamp, 1
    while d.exists():
        n += 1
        d = base / f"{stamp}-{n}"
    d.mkdir(parents=True)
    return d, {}


@contextlib.contextmanager
def _interruptible() -> Any:
    """SIGINT raises KeyboardInterrupt here even if this process inherited it ignored.

    A command started in the background of a non-interactive shell (``cmd &`` in a
    script, nohup, some CI runners) inherits SIGINT as SIG_IGN, and Python then
    keeps it ignored: ``kill -INT`` would neither stop the campaign nor reach its
    runs. ``faultbox run`` takes SIGINT with its own handler either way; so does a
    campaign, for as long as it runs (the previous disposition comes back after).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


class CampaignSession:
    def __init__(self, campaign: Campaign, cfg: RunConfig, ui: CampaignUI) -> None:
        self.c, self.cfg, self.ui = campaign, cfg, ui
        self.dir, finished = campaign_dir(cfg.store, campaign.name, cfg.resume)
        self.mine = select(campaign.runs, cfg.shard)
        self.records: dict[str, dict[str, Any]] = {}
        for run in self.mine:
            old = finished.get(run.id)
            self.records[run.id] = {**old, "index": run.index} if old else res.record_for(run)
        self.pending = deque(r for r in self.mine if r.id not in finished)
        self.resumed = len(self.mine) - len(self.pending)
        self.active: dict[str, _Active] = {}
        self.events: queue.Queue[tuple[str, dict[str, Any] | None]] = queue.Queue()
        self.stopping: str | None = None
        self.interrupted = False
        self.t0 = time.monotonic()
        self.started = _utc()
        if campaign.text and not (self.dir / "campaign.toml").exists():
            (self.dir / "campaign.toml").write_text(campaign.text, encoding="utf-8")

    # ---------------------------------------------------------------- loop
    def run(self) -> CampaignOutcome:
        self.ui.start(self.c.name, len(self.mine), self.resumed)
        try:
            self._loop()
        finally:
            self.ui.close()
        return self._finish()

    def run_one(self, run_id: str) -> dict[str, Any]:
        """Run just this run now (pytest items drive a campaign one run at a time)."""
        chosen = [r for r in self.pending if r.id == run_id]
        if chosen:
            self.pending.remove(chosen[0])
            rest, self.pending = self.pending, deque(chosen)
            try:
                self._loop()
            finally:
                self.pending = rest
        return self.records[run_id]

    def _loop(self) -> None:
        with _interruptible():
            self._loop_body()

    def _loop_body(self) -> None:
        self._write()
        while self.active or (self.pending and self.stopping is None):
            try:
                self._step()
            except KeyboardInterrupt:
                self._on_interrupt()
                if self.cfg.reraise_interrupt:
                    self._drain()
                    raise

    def _drain(self) -> None:
        while self.active:
            try:
                self._step()
            except KeyboardInterrupt:
                self._on_interrupt()  # a second Ctrl-C kills the children

    def _step(self) -> None:
        now = time.monotonic()
        if (self.cfg.max_time_s is not None and self.stopping is None
                and now - self.t0 > self.cfg.max_time_s):
            self._stop_all(f"--max-time {self.cfg.max_time_s:g} s reached")
        while self.stopping is None and self.pending and len(self.active) < self.cfg.jobs:
            self._launch(self.pending.popleft())
        try:
            run_id, msg = self.events.get(timeout=0.25)
            self._on_message(run_id, msg)
            while True:
                run_id, msg = self.events.get_nowait()
                self._on_message(run_id, msg)
        except queue.Empty:
            pass
        for a in list(self.active.values()):
            self._watch(a, time.monotonic())

    def _on_interrupt(self) -> None:
        if not self.interrupted:
            self.interrupted = True
            self._stop_all("interrupted (Ctrl-C)")
            self.ui.notice("interrupted: stopping the running case(s); Ctrl-C again to kill them")
            return
        for a in self.active.values():
            a.kill_at = 0.0  # second Ctrl-C: kill now

    def _stop_all(self, why: str) -> None:
        self.stopping = why
        for a in self.active.values():
            a.stopped = True
            with contextlib.suppress(ProcessLookupError):
                a.proc.send_signal(signal.SIGINT)
            # teardown plus checking what was recorded: bounded like a run's tail
            a.kill_at = time.monotonic() + a.run.options.check_budget_s + SETUP_MARGIN_S

    def _watch(self, a: _Active, now: float) -> None:
        if a.proc.poll() is not None:
            self._reap(a)
            return
        if not a.hung and now > a.deadline:
            a.hung = True
            with contextlib.suppress(ProcessLookupError):
                a.proc.send_signal(signal.SIGTERM)
            a.kill_at = now + TERM_GRACE_S
        if a.kill_at is not None and now > a.kill_at:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(a.proc.pid, signal.SIGKILL)
            a.proc.wait()
            _remove_containers_of(a.proc.pid)
            self._reap(a)

    # ------------------------------------------------------------ children
    def _launch(self, run: CaseRun) -> None:
        store = self.dir / run.slug
        store.mkdir(parents=True, exist_ok=True)
        opts = {**run.options.to_json(), "store": str(store.resolve()), "report": self.cfg.report}
        log = open(store / "worker.log", "a", encoding="utf-8")  # noqa: SIM115 - closed in _reap
        proc = subprocess.Popen(
            [sys.executable, "-m", "harness.campaign.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(opts))
        proc.stdin.close()
        now = time.monotonic()
        a = _Active(run, proc, store, log, now, now + run_margin_s(run))
        a.reader = threading.Thread(target=self._read, args=(run.id, proc), daemon=True)
        a.reader.start()
        self.active[run.id] = a
        self.ui.run_started(run)

    def _read(self, run_id: str, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(msg, dict):
                self.events.put((run_id, msg))
        self.events.put((run_id, None))

    def _on_message(self, run_id: str, msg: dict[str, Any] | None) -> None:
        a = self.active.get(run_id)
        if a is None or msg is None:
            return
        if msg.get("ev") == "progress":
            self.ui.run_progress(a.run, msg)
        else:
            a.messages.append(msg)

    def _reap(self, a: _Active) -> None:
        if a.reader is not None:
            a.reader.join(timeout=5)
        while True:  # what the reader queued after our last drain (a is still active here)
            try:
                run_id, msg = self.events.get_nowait()
            except queue.Empty:
                break
            self._on_message(run_id, msg)
        a.log.close()
        del self.active[a.run.id]
        rec = self._record(a, time.monotonic() - a.started)
        self.records[a.run.id] = rec
        self.ui.run_finished(a.run, rec)
        if self.cfg.fail_fast and rec["status"] in ("failed", "error") and self.stopping is None:
            self.stopping = f"--fail-fast: {a.run.id} {rec['status']}"
        self._write()

    def _record(self, a: _Active, wall_s: float) -> dict[str, Any]:
        base = res.record_for(a.run)
        done = next((m for m in a.messages if m.get("ev") == "done"), None)
        err = next((m for m in a.messages if m.get("ev") == "error"), None)
        run_dir = _newest_run_dir(a.store)
        if a.hung:
            rec = res.outcome_record(base, run_dir, self.dir, wall_s, False) if run_dir else dict(base)
            return res.error_record(rec, f"hung: no verdict {run_margin_s(a.run):.0f} s after start "
                                         f"(time limit {a.run.options.time_limit_s:g} s plus margin)", wall_s)
        if done is not None:
            return res.outcome_record(base, Path(done["run_dir"]), self.dir, wall_s, a.stopped)
        if a.stopped and (err is None or err.get("interrupted") or a.proc.returncode != 2):
            rec = dict(base, status="interrupted", wall_s=round(wall_s, 3))
            if run_dir is not None:
                rec["run_dir"] = os.path.relpath(run_dir, self.dir)
            return rec
        message = str(err["message"]) if err else _crash_message(a)
        rec = dict(base)
        if run_dir is not None:
            rec["run_dir"] = os.path.relpath(run_dir, self.dir)
        return res.error_record(rec, message, wall_s)

    # ------------------------------------------------------------- outputs
    def _head(self) -> dict[str, Any]:
        return {
            "campaign": self.c.name, "description": self.c.description, "source": self.c.source,
            "shard": str(self.cfg.shard) if self.cfg.shard else None,
            "total_runs": len(self.c.runs), "started": self.started, "finished": _utc(),
            "wall_s": round(time.monotonic() - self.t0, 3), "interrupted": self.interrupted,
            "stopped": self.stopping, "resumed_runs": self.resumed, "jobs": self.cfg.jobs,
        }

    def _write(self) -> None:
        res.write_campaign(self.dir, self._head(), list(self.records.values()))

    def finish(self) -> CampaignOutcome:
        return self._finish()

    def _finish(self) -> CampaignOutcome:
        records = sorted(self.records.values(), key=lambda r: int(r["index"]))
        write_outputs(self.dir, self._head(), records, self.cfg.junit)
        return CampaignOutcome(self.dir, tuple(records), res.exit_code(records), self.interrupted)


def write_outputs(directory: Path, head: dict[str, Any], records: list[dict[str, Any]],
                  junit: Path | None) -> None:
    """campaign.json, junit.xml (and a copy at ``junit``), campaign.html, the store index."""
    res.write_campaign(directory, head, records)
    write_junit(directory / "junit.xml", head["campaign"], records, directory, head.get("started"))
    if junit is not None:
        write_junit(junit, head["campaign"], records, directory, head.get("started"))
    try:
        from reports.campaign import render_campaign

        render_campaign(directory)
    except Exception as e:  # noqa: BLE001 - a page bug must not lose the campaign's results
        print(f"faultbox: campaign.html not written: {type(e).__name__}: {e}", file=sys.stderr)
    store_root = _store_root(directory)
    if store_root is not None:
        with contextlib.suppress(Exception):
            import reports

            reports.render_index(store_root)


def _store_root(directory: Path) -> Path | None:
    """``<store>`` for ``<store>/campaigns/<name>/<stamp>``."""
    d = directory.resolve()
    return d.parents[2] if len(d.parents) > 2 and d.parents[1].name == CAMPAIGNS_DIR else None


def _newest_run_dir(store: Path) -> Path | None:
    runs = [p.parent for p in store.glob("*/*/test.json") if not p.parent.is_symlink()]
    return max(runs, key=lambda p: p.stat().st_mtime) if runs else None


def _crash_message(a: _Active) -> str:
    tail = ""
    with contextlib.suppress(OSError):
        lines = [ln for ln in (a.store / "worker.log").read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else ""
    return f"the run process exited with code {a.proc.returncode}" + (f": {tail}" if tail else "")


def _remove_containers_of(pid: int) -> None:
    """Remove the containers and network of a run whose process we had to SIGKILL (only that run's)."""
    try:
        import docker

        client = docker.from_env(timeout=30)
    except Exception:  # noqa: BLE001 - no engine: nothing to remove
        return
    prefix = f"{pid}:"
    with contextlib.suppress(Exception):
        for c in client.containers.list(all=True, filters={"label": "faultbox"}):
            if str(c.labels.get("faultbox.owner", "")).startswith(prefix):
                with contextlib.suppress(Exception):
                    c.remove(force=True)
        for n in client.networks.list(filters={"label": "faultbox"}):
            if str((n.attrs.get("Labels") or {}).get("faultbox.owner", "")).startswith(prefix):
                with contextlib.suppress(Exception):
                    n.remove()
    client.close()


def run_campaign(campaign: Campaign, cfg: RunConfig, ui: CampaignUI) -> CampaignOutcome:
    if cfg.jobs < 1:
        raise UsageError(f"--jobs must be ≥ 1, got {cfg.jobs}")
    if cfg.max_time_s is not None and not cfg.max_time_s > 0:
        raise UsageError(f"--max-time must be > 0, got {cfg.max_time_s:g}")
    return CampaignSession(campaign, cfg, ui).run()


class NullUI:
    """A UI that shows nothing (pytest items, library use)."""

    def __init__(self, notice: Callable[[str], None] | None = None) -> None:
        self._notice = notice

    def start(self, name: str, total: int, done: int) -> None:
        return None

    def run_started(self, run: CaseRun) -> None:
        return None

    def run_progress(self, run: CaseRun, progress: dict[str, Any]) -> None:
        return None

    def run_finished(self, run: CaseRun, record: dict[str, Any]) -> None:
        return None

    def notice(self, msg: str) -> None:
        if self._notice is not None:
            self._notice(msg)

    def close(self) -> None:
        return None
