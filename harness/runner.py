"""The test lifecycle (DESIGN §2).

backend up → clients → generator main phase (clients + nemesis) → nemesis
final (heal) → recovery wait → final phase → teardown (always) → node logs →
checkers → results.json → report → exit code 0 valid / 1 invalid / 2 unknown.

While the generator runs, ``backend.crashes()`` is polled (in a worker thread,
about once a second, and once more before teardown) and each node that died on
its own is recorded as a nemesis ``crash`` op pair: DESIGN §4's broken
invariants become findings instead of silently dead nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from checkers.core import Result, safe_check, verdict_word
from checkers.divergence import STATUS_FILE, with_divergence
from harness import generator as g
from harness.backends.base import Backend, BackendError
from harness.errors import SetupError, UsageError
from harness.history import HistoryWriter, Op, read_jsonl
from harness.interpreter import Interpreter
from harness.options import Options
from harness.store import git_commit, new_run_dir, write_json
from systems.common.spec import SystemSpec

__all__ = ["RunOutcome", "run_test", "check_run", "make_backend", "exit_code"]

log = logging.getLogger("faultbox.runner")
CRASH_POLL_S = 1.0


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    valid: Any
    results: dict[str, Any]
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return exit_code(self.valid)


def exit_code(valid: Any) -> int:
    return 0 if valid is True else 1 if valid is False else 2


class Interrupted(Exception):
    """SIGTERM outside the event loop: unwinds to teardown like Ctrl-C."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Interrupted()

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def make_backend(opts: Options, notice: Callable[[str], None]) -> Backend:
    if opts.backend == "ssh":
        return _ssh(opts, notice)
    if opts.backend == "docker":
        try:
            from harness.backends.docker import DockerBackend, docker_available
        except ImportError as e:  # pragma: no cover - the docker backend ships with faultbox
            notice(f"docker backend unavailable ({e}); using the local backend")
            return _local()
        if docker_available():
            # The pid keeps names unique between runs started in the same second by
            # concurrent processes (a campaign's --jobs): networks and containers are
            # named after run_id; the engine itself refuses overlapping subnets.
            return DockerBackend(run_id=f"{int(time.time())}{opts.seed % 1000:03d}-{os.getpid()}")
        notice("no Docker engine is reachable; falling back to the local backend")
    return _local()


def _ssh(opts: Options, notice: Callable[[str], None]) -> Backend:
    """Connect to and check every host before the test starts (one line and exit 2 if not)."""
    from harness.backends.ssh import SshBackend

    if opts.ssh is None:
        raise SetupError("--backend ssh needs --hosts hosts.toml (see docs/ssh.md)")
    backend = SshBackend(run_id=f"{int(time.time())}{opts.seed % 1000:03d}-{os.getpid()}",
                         settings=opts.ssh, nodes=opts.node_names(), progress=notice)
    try:
        backend.connect()
    except BackendError as e:
        raise SetupError(str(e)) from None
    return backend


def _local() -> Backend:
    from harness.backends.local import LocalBackend

    return LocalBackend()


def _nemesis_package(opts: Options) -> Any:
    if not opts.nemesis:
        return None
    import nemesis

    pkgs = [
        nemesis.PACKAGES[n](nemesis.NemesisOptions(interval_s=opts.nemesis_interval_s))
        for n in opts.nemesis
    ]
    return nemesis.compose(pkgs)


def _schedule(opts: Options, workload: Any, pkg: Any) -> Any:
    clients = g.clients(workload.generator)
    # The first fault waits one interval: the system is warm and holds acknowledged
    # writes before anything breaks (a fault at t=0 exercises nothing).
    main = (
        g.any(g.nemesis([g.sleep(opts.nemesis_interval_s), pkg.generator]), clients)
        if pkg is not None
        else clients
    )
    phases: list[Any] = [g.log("main phase"), g.time_limit(opts.time_limit_s, main)]
    if pkg is not None and pkg.final_generator is not None:
        phases += [g.log("healing"), g.nemesis(pkg.final_generator)]
    if opts.recovery_s > 0:
        phases += [g.log("recovery wait"), g.sleep(opts.recovery_s)]
    if workload.final_generator is not None:
        phases += [g.log("final reads"), g.time_limit(
            max(10.0, 4 * opts.op_timeout_s), g.clients(workload.final_generator))]
    return g.phases(*phases)


def run_test(
    opts: Options,
    spec: SystemSpec,
    workload: Any,
    on_op: Callable[[Op], None] | None = None,
    notice: Callable[[str], None] = print,
    argv: str | None = None,
    package: Any = None,
) -> RunOutcome:
    """Run one test. ``package`` overrides the nemesis package built from ``opts.nemesis``."""
    try:
        spec = spec.configured(opts.system_settings())
    except ValueError as e:
        raise UsageError(f"--opt: {e}") from None
    if opts.backend == "sim":  # deterministic simulation: same store folder, see docs/sim.md
        return _run_sim(opts, workload, on_op, argv, package)
    backend = make_backend(opts, notice)
    if backend.name != opts.backend:
        opts = replace(opts, backend=backend.name)
    pkg = package if package is not None else _nemesis_package(opts)
    if pkg is not None:
        missing = set(pkg.needs) - set(backend.capabilities())
        if missing:
            raise SetupError(
                f"the {backend.name} backend cannot do {', '.join(sorted(missing))} "
                f"faults needed by --nemesis {','.join(opts.nemesis)}"
            )
    run_dir = new_run_dir(opts.store, opts.name)
    test: dict[str, Any] = {
        "name": opts.name,
        **opts.to_json(),
        "nodes": opts.node_names(),
        "git_commit": git_commit(),
        "command": opts.command(),
        "argv": argv,
        "start_time": _utc(),
        "faultbox_version": "0.1.0",
        "run_dir": str(run_dir),
    }
    write_json(run_dir / "test.json", test)
    interrupted = False
    error: str | None = None
    writer = HistoryWriter(run_dir / "history.jsonl")
    with _sigterm_as_interrupt():
        try:
            interrupted = _run_phases(opts, spec, workload, pkg, backend, run_dir, test, writer, on_op)
        except (Interrupted, KeyboardInterrupt):
            interrupted = True
        except BackendError as e:
            error = str(e)
        except Exception as e:  # noqa: BLE001 - any failure still tears down and says so in one line
            error = f"{type(e).__name__}: {e}"
        finally:
            try:
                writer.close()
            finally:
                _teardown(pkg, backend, run_dir)
    test["end_time"] = _utc()
    test["interrupted"] = interrupted
    if error is not None:
        test["error"] = error
    write_json(run_dir / "test.json", test)
    if error is not None:
        raise SetupError(f"{error} (run folder: {run_dir})")
    return check_run(run_dir, workload.checker, test, render=opts.report)


def _run_sim(
    opts: Options, workload: Any, on_op: Callable[[Op], None] | None, argv: str | None,
    package: Any,
) -> RunOutcome:
    if package is not None:
        raise SetupError("the sim backend builds its own nemesis packages; a package override "
                         "cannot run there")
    from harness.sim.run import run_sim_test
    from harness.sim.world import SimOptions

    outcome, _ = run_sim_test(opts, SimOptions(), workload, argv=argv, on_op=on_op)
    return outcome


def _utc() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _run_phases(
    opts: Options, spec: SystemSpec, workload: Any, pkg: Any, backend: Backend,
    run_dir: Path, test: dict[str, Any], writer: HistoryWriter,
    on_op: Callable[[Op], None] | None,
) -> bool:
    nodes = opts.node_names()
    backend.up(spec, nodes, run_dir, opts.bugs, opts.seed)
    cluster = backend.cluster()
    factory = spec.clients[opts.workload]
    settings = spec.client_settings()

    def node_of(thread: int) -> str:
        return nodes[thread % len(nodes)]

    def open_client(thread: int) -> Any:
        return factory(cluster, node_of(thread), opts.op_timeout_s, **settings)

    if pkg is not None:
        pkg.nemesis.setup(backend, test)
    interp = Interpreter(
        test, opts.concurrency, open_client, writer,
        nemesis=pkg.nemesis if pkg is not None else None,
        op_timeout_s=opts.op_timeout_s, seed=opts.seed, on_op=on_op, node_of=node_of,
    )
    monitor = None
    if opts.monitor_hz > 0:  # nodes' status during the run, for the divergence checker
        from harness.monitor import StatusMonitor

        monitor = StatusMonitor(cluster, run_dir, interp.now_ns, opts.monitor_hz)
    try:
        return asyncio.run(_drive(interp, _schedule(opts, workload, pkg), backend))
    finally:
        if monitor is not None:
            monitor.stop()


class _CrashWatch:
    """Polls ``backend.crashes()`` off the event loop and records each crash in the history.

    Stopping never cancels a poll in flight (its crashes are already marked
    reported in the backend and would be lost): it lets it finish, then polls
    once more, so a node that died during the last phase is still recorded.
    """

    def __init__(
        self, backend: Backend, interp: Interpreter, interval_s: float = CRASH_POLL_S
    ) -> None:
        self.backend = backend
        self.interp = interp
        self.interval_s = interval_s
        self._stop = asyncio.Event()
        self._task = asyncio.ensure_future(self._loop())
        self._warned = False

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self._poll()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._stop.wait()

    async def _poll(self) -> None:
        try:
            found = await asyncio.to_thread(self.backend.crashes)
        except Exception as e:  # noqa: BLE001 - a failed poll must not end the run
            if not self._warned:
                self._warned = True
                print(f"faultbox: polling for node crashes failed: {e}", file=sys.stderr)
            return
        for crash in found:
            log.warning("node %s crashed (exit code %s)", crash.get("node"), crash.get("exit_code"))
            self.interp.record_crash(crash)

    async def stop(self) -> None:
        self._stop.set()
        await self._task
        await self._poll()
        self.interp.flush_crashes()


async def _drive(interp: Interpreter, gen: Any, backend: Backend) -> bool:
    loop = asyncio.get_running_loop()
    sigs = (signal.SIGINT, signal.SIGTERM)
    # remove_signal_handler resets to the default disposition, not to the handler we
    # had before (SIGTERM -> Interrupted): save and restore it so teardown stays covered.
    before = {sig: signal.getsignal(sig) for sig in sigs}
    for sig in sigs:
        loop.add_signal_handler(sig, interp.stop)
    watch = _CrashWatch(backend, interp)
    try:
        await interp.run(gen)
    finally:
        await watch.stop()
        for sig in sigs:
            loop.remove_signal_handler(sig)
            signal.signal(sig, before[sig])
        await interp.close_clients()
    return interp.stopping


def _teardown(pkg: Any, backend: Backend, run_dir: Path) -> None:
    """Always runs: heal faults, collect logs, remove nodes. Never raises."""
    steps: list[tuple[str, Callable[[], None]]] = []
    if pkg is not None:
        steps.append(("nemesis teardown", pkg.nemesis.teardown))
    steps.append(("log collection", lambda: backend.collect_logs(run_dir / "nodes")))
    steps.append(("backend down", backend.down))
    for what, step in steps:
        try:
            step()
        except BaseException as e:  # noqa: BLE001 - teardown must finish
            print(f"faultbox: {what} failed: {e}", file=sys.stderr)


def check_run(
    run_dir: Path, checker: Any, test: dict[str, Any], render: bool = True
) -> RunOutcome:
    """Judge the recorded history of a run folder; write results.json and (``render``) the report."""
    history = read_jsonl(run_dir / "history.jsonl")
    if (run_dir / STATUS_FILE).exists():
        checker = with_divergence(checker)
    t0 = time.monotonic()
    result: Result = safe_check(checker, test, history, run_dir)
    results = {
        "valid": result.valid,
        "verdict": verdict_word(result.valid),
        "checkers": dict(result.details) if _is_composite(result) else {"main": result.to_dict()},
        "anomalies": [a.to_dict() for a in result.anomalies],
        "ops": sum(1 for o in history if o.type == "invoke"),
        "check_seconds": round(time.monotonic() - t0, 3),
    }
    write_json(run_dir / "results.json", results)
    if render:
        _render(run_dir)
    return RunOutcome(run_dir, result.valid, results, bool(test.get("interrupted")))


def _is_composite(result: Result) -> bool:
    return bool(result.details) and all(
        isinstance(v, dict) and "valid" in v for v in result.details.values()
    )


def _render(run_dir: Path) -> None:
    try:
        import reports
    except ImportError:
        return
    try:
        reports.render_report(run_dir)
        reports.render_index(run_dir.parent.parent)
    except Exception as e:  # noqa: BLE001 - a report bug must not lose the verdict
        print(f"faultbox: report rendering failed: {type(e).__name__}: {e}", file=sys.stderr)


