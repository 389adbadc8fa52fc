"""The faultbox command line (click + rich).

Every error the user can cause — an unknown name, a bad number, a missing or
malformed file, a node that never comes up — prints one line and exits 2.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from harness.errors import FaultboxError, UsageError
from harness.history import HistoryError, Op

__all__ = ["main", "cli"]

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


_debug = False  # set by the global --debug flag: unexpected errors show their traceback


def fail(msg: str) -> NoReturn:
    one_line = " ".join(msg.split())  # messages quote outside files: keep them on one line
    console.print(f"[red]faultbox:[/red] {escape(one_line)}", soft_wrap=True)
    sys.exit(2)


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(x.strip() for x in (value or "").split(",") if x.strip())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="faultbox")
@click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """faultbox — a Jepsen-style correctness harness.

    Start systems on several nodes, drive them with a workload while a nemesis
    injects faults, record the history, and check it.
    """
    global _debug
    _debug = debug


def _ssh_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--hosts and the --ssh-* flags shared by `run` and `clean`."""
    for opt in reversed([
        click.option("--hosts", default=None, type=click.Path(path_type=Path),
                     help="Backend ssh: hosts.toml naming one remote host per node (docs/ssh.md)."),
        click.option("--ssh-user", default=None, help="Backend ssh: login name (overrides [defaults])."),
        click.option("--ssh-key", default=None, type=click.Path(path_type=Path),
                     help="Backend ssh: private key file (default: ssh-agent, ~/.ssh/id_*)."),
        click.option("--ssh-accept-new", is_flag=True,
                     help="Backend ssh: trust a host key seen for the first time and add it to "
                          "known_hosts (never a changed one)."),
        click.option("--sudo", is_flag=True,
                     help="Backend ssh: run root commands with sudo -n (login is not root)."),
    ]):
        fn = opt(fn)
    return fn


# ---------------------------------------------------------------------- run
@cli.command()
@click.option("--system", default="raftkv", show_default=True, help="System under test (see `faultbox list`).")
@click.option("--workload", default=None,
              help="Workload to run [default: register, or the system's only workload].")
@click.option("--nemesis", default="",
              help="Comma-separated faults, e.g. partition,kill; 'default' is the tuned mix "
                   "(see `faultbox list`).")
@click.option("--nodes", default=None, type=int, help="Number of nodes [default: 3, or the system's maximum].")
@click.option("--concurrency", default=5, show_default=True, type=int, help="Client workers.")
@click.option("--rate", default=100.0, show_default=True, type=float, help="Total client ops per second.")
@click.option("--keys", default=8, show_default=True, type=int,
              help="Keys a multi-key workload (kv, cache, append, ...) spreads its ops over.")
@click.option("--time-limit", default=30.0, show_default=True, type=float, help="Main phase length, seconds.")
@click.option("--seed", default=None, type=int, help="Seed for every random choice (default: random, recorded).")
@click.option("--backend", default="docker", show_default=True,
              help="docker, local, sim (deterministic simulation) or ssh (remote hosts, --hosts).")
@click.option("--bug", "bugs", multiple=True, help="Re-introduce a bug class in the system (repeatable).")
@click.option("--opt", "system_opts", multiple=True, metavar="NAME=VALUE",
              help="A system option, e.g. partitions=4 (repeatable; see `faultbox list`).")
@click.option("--op-timeout", default=3.0, show_default=True, type=float, help="Per-op timeout, seconds.")
@click.option("--nemesis-interval", default=None, type=float,
              help="Seconds between faults [default: 5, or the default schedule's with --nemesis default].")
@click.option("--recovery", default=3.0, show_default=True, type=float, help="Wait after healing, seconds.")
@click.option("--check-budget", default=120.0, show_default=True, type=float, help="Checker time budget, seconds.")
@click.option("--store", default="store", show_default=True, type=click.Path(path_type=Path), help="Store folder.")
@click.option("--no-report", is_flag=True, help="Skip the HTML report.")
@click.option("--monitor-hz", default=5.0, show_default=True, type=float,
              help="Status polls per node per second for the divergence checker (0: off).")
@click.option("--sim", "sim_spec", default=None,
              help="Backend sim: network/disk knobs delay=LO-HI (ms),loss=P,dup=P,torn=0|1.")
@click.option("--runs", default=1, show_default=True, type=int,
              help="Backend sim: swarm of N seeds from --seed, each with a drawn fault mix.")
@click.option("--jobs", default=1, show_default=True, type=int, help="Backend sim: worker processes.")
@click.option("--keep-going", is_flag=True, help="Backend sim swarm: run all N, do not stop at the first invalid.")
@click.option("--shrink", "shrink_", is_flag=True,
              help="Backend sim: shrink an invalid run's fault schedule to a minimal failing one.")
@click.option("--shrink-budget", default=200, show_default=True, type=int, help="Backend sim: most replays while shrinking.")
@click.option("--emit-regression", is_flag=True,
              help="Backend sim, with --shrink: write a pytest regression test under tests/regressions/.")
@_ssh_options
@click.option("--install", is_flag=True,
              help="Backend ssh: apt-get install what a host lacks (python3, iptables, libfaketime).")
@click.option("--keep", is_flag=True, help="Backend ssh: keep the run folder (data, logs) on the hosts.")
def run(**kw: Any) -> None:
    """Run one test: system × workload × faults on N nodes."""
    from harness.options import Options, parse_system_opts, validate
    from harness.runner import run_test
    from nemesis.schedule import expand_mix, schedule_interval

    seed = kw["seed"] if kw["seed"] is not None else int(time.time_ns() % 1_000_000)
    names = _csv(kw["nemesis"])
    mix = expand_mix(names)
    opts = Options(
        system=kw["system"], workload=kw["workload"] or "register", nemesis=mix,
        nodes=kw["nodes"] if kw["nodes"] is not None else 3, concurrency=kw["concurrency"], keys=kw["keys"],
        rate=kw["rate"], time_limit_s=kw["time_limit"], seed=seed, backend=kw["backend"], bugs=tuple(kw["bugs"]),
        op_timeout_s=kw["op_timeout"],
        nemesis_interval_s=schedule_interval(names, kw["nemesis_interval"], Options.nemesis_interval_s),
        recovery_s=kw["recovery"], check_budget_s=kw["check_budget"], store=kw["store"],
        report=not kw["no_report"], monitor_hz=kw["monitor_hz"],
        ssh=_ssh_settings(kw, kw["backend"] == "ssh"),
    )
    systems, workloads, nemeses = _registries()
    spec0 = systems.get(opts.system)
    if kw["nodes"] is None:
        cap = spec0.max_nodes if spec0 is not None and spec0.max_nodes else 3
        opts = replace(opts, nodes=min(3, cap))
    if spec0 is not None and spec0.default_faults:  # the system's own part of `default`
        opts = replace(opts, nemesis=expand_mix(names, spec0.default_faults, opts.nodes))
    if kw["workload"] is None and spec0 is not None and len(spec0.clients) == 1 \
            and "register" not in spec0.clients:
        opts = replace(opts, workload=next(iter(spec0.clients)))  # e.g. cache, lock, queue
    try:
        opts = replace(opts, system_opts=parse_system_opts(kw["system_opts"]))
        validate(opts, systems, list(workloads), nemeses)
        spec = systems[opts.system]

        workload = workloads[opts.workload](opts.workload_options())
        sim_req = _sim_request(opts, kw) if opts.backend == "sim" else None
        if sim_req is None:
            _no_sim_flags(kw)
        console.print(f"faultbox: {opts.name} on {opts.nodes} node(s), seed {seed}")
        if sim_req is not None:
            sys.exit(_run_sim(opts, sim_req))
        with _progress(opts) as on_op:
            outcome = run_test(opts, spec, workload, on_op=on_op, notice=_notice,
                               argv=" ".join(sys.argv))
    except (FaultboxError, HistoryError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted while checking; the recorded history is kept (faultbox check store/latest)")
    _print_outcome(outcome.run_dir, outcome.results, outcome.interrupted)
    sys.exit(outcome.exit_code)


def _ssh_settings(kw: dict[str, Any], wanted: bool) -> Any:
    """SshSettings from --hosts and the --ssh-* flags (None for another backend)."""
    from harness.backends.ssh_hosts import SshSettings

    flags = [flag for flag, on in (
        ("--hosts", kw["hosts"] is not None), ("--ssh-user", kw["ssh_user"] is not None),
        ("--ssh-key", kw["ssh_key"] is not None), ("--ssh-accept-new", kw["ssh_accept_new"]),
        ("--sudo", kw["sudo"]), ("--install", kw.get("install", False)),
        ("--keep", kw.get("keep", False))) if on]
    if not wanted:
        if flags:
            raise UsageError(f"{', '.join(flags)} only work with --backend ssh")
        return None
    if kw["hosts"] is None:
        raise UsageError("--backend ssh needs --hosts hosts.toml (see docs/ssh.md)")
    return SshSettings(
        hosts_file=kw["hosts"], user=kw["ssh_user"], key=kw["ssh_key"],
        accept_new=kw["ssh_accept_new"], sudo=kw["sudo"], install=kw.get("install", False),
        keep=kw.get("keep", False),
    )


def _sim_request(opts: Any, kw: dict[str, Any]) -> Any:
    from harness.sim.command import REGRESSION_DIR, SimRequest, sim_options, validate

    req = SimRequest(
        sim=sim_options(kw["sim_spec"]), runs=kw["runs"], jobs=kw["jobs"], keep_going=kw["keep_going"],
        shrink=kw["shrink_"], shrink_budget=kw["shrink_budget"],
        emit_regression=REGRESSION_DIR if kw["emit_regression"] else None,
    )
    validate(opts, req)
    return req


def _run_sim(opts: Any, req: Any) -> int:
    from harness.sim.command import run_sim

    return run_sim(opts, req, say=lambda m: out.print(m, soft_wrap=True, markup=False),
                   show_outcome=lambda o: _print_outcome(o.run_dir, o.results, o.interrupted),
                   argv=" ".join(sys.argv))


def _no_sim_flags(kw: dict[str, Any]) -> None:
    """Sim-only flags on another backend are a usage error."""
    used = [flag for flag, on in (("--sim", kw["sim_spec"] is not None), ("--runs", kw["runs"] != 1),
            ("--jobs", kw["jobs"] != 1), ("--keep-going", kw["keep_going"]), ("--shrink", kw["shrink_"]),
            ("--emit-regression", kw["emit_regression"])) if on]
    if used:
        raise UsageError(f"{', '.join(used)} only work with --backend sim")


def _notice(msg: str) -> None:
    console.print(f"[yellow]faultbox:[/yellow] {msg}")


def _registries() -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    import workloads
    from systems import available_systems, get_system

    systems = {}
    for name in available_systems():
        try:
            systems[name] = get_system(name)
        except (ImportError, AttributeError):
            continue  # a system package still being built: not offered
    try:
        import nemesis

        nemeses = sorted(nemesis.PACKAGES)
    except (ImportError, AttributeError):
        nemeses = []
    return systems, dict(workloads.REGISTRY), nemeses


class _progress:
    """A rich progress bar: elapsed, op counts by outcome, the faults now active."""

    def __init__(self, opts: Any) -> None:
        self.opts = opts
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.faults: set[str] = set()
        self.t0 = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[ops]}"), console=console, transient=False,
            refresh_per_second=4,
        )
        self.task = self.progress.add_task("running", total=opts.time_limit_s, ops="")
        self._last = 0.0

    def __enter__(self) -> Callable[[Op], None]:
        self.progress.__enter__()
        return self.on_op

    def __exit__(self, *exc: Any) -> None:
        self._refresh(force=True)
        self.progress.__exit__(*exc)

    def on_op(self, op: Op) -> None:
        if op.process == "nemesis":
            if op.type != "invoke":
                name = op.f.split("-", 1)[-1]
                if op.f.startswith("start-"):
                    self.faults.add(name)
                elif op.f.startswith("stop-"):
                    self.faults.discard(name)
        else:
            self.counts[op.type] += 1
        self._refresh()

    def _refresh(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.25:
            return
        self._last = now
        c = self.counts
        faults = ",".join(sorted(self.faults)) or "none"
        self.progress.update(
            self.task,
            completed=min(now - self.t0, self.opts.time_limit_s),
            ops=f"ops {c['invoke']}  ok {c['ok']}  fail {c['fail']}  info {c['info']}  faults: {faults}",
        )


def _print_outcome(run_dir: Path, results: dict[str, Any], interrupted: bool) -> None:
    from checkers.core import verdict_word  # the checkers package loads networkx: not at start-up

    verdict = results.get("verdict", "unknown")
    colour = {"valid": "green", "invalid": "red"}.get(verdict, "yellow")
    if interrupted:
        out.print("[yellow]run interrupted: checked what was recorded[/yellow]")
    for name, r in results.get("checkers", {}).items():
        word = verdict_word(r.get("valid"))
        out.print(f"  {name:<14} {word}")
        for a in r.get("anomalies", [])[:5]:
            out.print(f"    - {a.get('kind')}: {a.get('explanation')}", soft_wrap=True)
        if word == "unknown" and r.get("details", {}).get("reason"):
            out.print(f"    reason: {r['details']['reason']}")
    out.print(f"[bold {colour}]{verdict.upper()}[/bold {colour}]  results: {run_dir / 'results.json'}")
    report = run_dir / "report.html"
    if report.exists():
        out.print(f"report: {report}")


# -------------------------------------------------------------------- check
@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None,
              help="jsonl, porcupine-etcd, porcupine-kv, knossos-edn, jepsen-edn (default: detect).")
@click.option("--model", default=None, help="Linearizability model, e.g. cas-register, kv, mutex.")
@click.option("--init", default=None, help="Initial model state as JSON, e.g. 0.")
@click.option("--budget", default=60.0, show_default=True, type=float, help="Time budget per check, seconds.")
@click.option("--consistency-models", "consistency_models", default=None,
              help="List-append (Elle) check: models the history must satisfy, comma-separated, "
                   "e.g. snapshot-isolation,repeatable-read (default for jepsen-edn: strict-serializable).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable results.")
def check(paths: tuple[Path, ...], fmt: str | None, model: str | None, init: str | None,
          budget: float, consistency_models: str | None, as_json: bool) -> None:
    """Check stored runs or bare history files with the current checkers.

    A run folder (or store/latest) is re-checked with its workload's checkers and
    its results.json and report are rewritten. A bare history file is checked for
    linearizability, or, for list-append txn histories (jepsen-edn, or when
    --consistency-models is given), with the Elle-style transactional checker.
    """
    from harness.check import check_path

    for p in paths:
        if not p.exists():
            fail(f"{p}: no such file or directory")
    try:
        init_value = json.loads(init) if init is not None else None
    except (ValueError, RecursionError):  # also the int-digits limit and deep nesting
        fail(f"--init: not valid JSON: {(init or '')[:60]!r}")
    rows = []
    worst = 0
    for p in paths:
        try:
            row = check_path(p, fmt=fmt, model=model, init=init_value, budget_s=budget,
                             init_given=init is not None, consistency_models=consistency_models)
        except (HistoryError, FaultboxError) as e:
            fail(str(e))
        rows.append(row)
        worst = max(worst, {"valid": 0, "invalid": 1}.get(row["verdict"], 2))
        if not as_json:
            line = f"{row['verdict'].upper():<8} {p}  ({row['ops']} ops, {row.get('check_seconds', 0):.3f} s)"
            out.print(line, soft_wrap=True)
            if row.get("explanation"):
                out.print(f"  {row['explanation']}", soft_wrap=True)
            if row["verdict"] == "unknown" and row.get("reason"):
                out.print(f"  reason: {row['reason']}", soft_wrap=True)
    if as_json:
        out.print_json(json.dumps(rows, default=repr))
    sys.exit(worst)


# --------------------------------------------------------------------- list
@cli.command("list")
def list_() -> None:
    """Systems, workloads and nemeses available."""
    systems, workloads, nemeses = _registries()
    t = Table(title="systems")
    t.add_column("system")
    t.add_column("workloads")
    t.add_column("bug switches")
    t.add_column("options (--opt)")
    t.add_column("description")
    for name, spec in systems.items():
        opts = ", ".join(f"{k}={o.default}" for k, o in spec.options.items()) or "-"
        t.add_row(name, ", ".join(spec.clients), ", ".join(spec.bugs) or "-", opts,
                  spec.description)
    out.print(t)
    out.print("workloads: " + ", ".join(workloads))
    out.print("nemeses:   " + (", ".join(nemeses) or "-"))
    from nemesis.schedule import DEFAULT_MIX, MIN_NODES

    out.print("default:   " + ",".join(DEFAULT_MIX) + "  (--nemesis default)")
    for name, spec in systems.items():
        for f in spec.default_faults:
            out.print(f"           + {f} for {name}" + (f" ({MIN_NODES[f]}+ nodes)" if f in MIN_NODES else ""))


# -------------------------------------------------------------------- clean
@cli.command()
@click.option("--force", is_flag=True, help="Also remove the nodes of runs whose harness process still runs.")
@click.option("--backend", default=None,
              help="ssh: clean the hosts of --hosts instead of this machine's containers and nodes.")
@_ssh_options
def clean(force: bool, backend: str | None, **kw: Any) -> None:
    """Remove containers, networks, firewall rules and node processes a crashed run left behind.

    Runs whose harness process is still alive (another terminal, another CI job) are
    left alone unless --force. With --backend ssh --hosts hosts.toml: server processes,
    run folders and faultbox's iptables chains on those hosts.
    """
    if backend not in (None, "ssh", "docker", "local"):
        fail(f"clean: unknown backend {backend!r} (known: docker, local, ssh)")
    try:
        ssh = _ssh_settings(kw, backend == "ssh")
    except UsageError as e:
        fail(str(e))
    if ssh is not None:
        from harness.backends.base import BackendError
        from harness.backends.ssh import clean_hosts

        try:
            got = clean_hosts(ssh, force=force, say=lambda m: out.print(m, markup=False))
        except (BackendError, FaultboxError) as e:
            fail(str(e))
        out.print("removed: " + ", ".join(f"{v} {k}" for k, v in got.items()))
        return
    from harness.backends.docker import clean_all, docker_available
    from harness.backends.local import clean_local

    removed = {"local node processes": clean_local(force)}
    if docker_available():
        removed.update(clean_all(force=force))
    else:
        out.print("no Docker engine reachable: only local node processes were checked")
    out.print("removed: " + ", ".join(f"{v} {k}" for k, v in removed.items()))


# ------------------------------------------------------------ report, serve
@cli.command()
@click.argument("path", type=click.Path(path_type=Path), default=Path("store/latest"))
def report(path: Path) -> None:
    """Re-render the HTML report of a stored run (and the store index)."""
    import reports

    run_dir = path.resolve()
    if not (run_dir / "test.json").exists():
        fail(f"{path}: not a run folder (no test.json)")
    try:
        page = reports.render_report(run_dir)
        reports.render_index(run_dir.parent.parent)
    except (HistoryError, OSError, ValueError) as e:
        fail(f"{path}: {e}")
    out.print(f"report: {page}")


@cli.command()
@click.option("--store", default="store", show_default=True, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def serve(store: Path, host: str, port: int) -> None:
    """Serve the store (index.html and every report) on a local port."""
    import reports

    if not store.is_dir():
        fail(f"{store}: no such store folder")
    out.print(f"serving {store} on http://{host}:{port}/index.html (Ctrl-C to stop)")
    try:
        reports.serve(store, host=host, port=port)
    except OSError as e:
        fail(f"cannot serve on {host}:{port}: {e.strerror}")
    except KeyboardInterrupt:
        pass


# -------------------------------------------------------------------- image
@cli.group()
def image() -> None:
    """The offline node image used by the docker backend."""


@image.command("build")
@click.option("--rebuild", is_flag=True, help="Rebuild even if the content hash is unchanged.")
def image_build(rebuild: bool) -> None:
    """Build (or reuse) the node image: debootstrap base → docker import → node image."""
    from harness.image import ensure_image

    try:
        tag = ensure_image(rebuild=rebuild, progress=lambda m: console.print(f"  {m}"))
    except FaultboxError as e:
        fail(str(e))
    out.print(f"image: {tag}")


# ------------------------------------------------------------------ ssh-lab
@cli.group("ssh-lab")
def ssh_lab() -> None:
    """Local sshd containers to try --backend ssh on (docs/ssh.md)."""


@ssh_lab.command("up")
@click.option("--hosts", "count", default=5, show_default=True, type=int, help="How many hosts.")
@click.option("--dir", "folder", default=Path("ssh-lab"), show_default=True,
              type=click.Path(path_type=Path), help="Folder for hosts.toml, known_hosts and the key.")
def ssh_lab_up(count: int, folder: Path) -> None:
    """Start sshd hosts from the node image; write hosts.toml, known_hosts and a client key."""
    from harness.backends.base import BackendError
    from harness.backends.ssh_lab import lab_up
    from harness.image import ImageError

    try:
        lab = lab_up(count, folder, progress=lambda m: console.print(f"  {escape(m)}"))
    except (BackendError, ImageError) as e:
        fail(str(e))
    out.print(f"hosts file: {lab.hosts_file}", markup=False)
    out.print(f"try: faultbox run --backend ssh --hosts {lab.hosts_file} --nodes {count} "
              "--nemesis partition,kill", markup=False)
    out.print(f"stop: faultbox ssh-lab down --dir {folder}", markup=False)


@ssh_lab.command("down")
@click.option("--dir", "folder", default=Path("ssh-lab"), show_default=True,
              type=click.Path(path_type=Path), help="The folder `ssh-lab up` wrote.")
def ssh_lab_down(folder: Path) -> None:
    """Remove the lab's containers, network and folder."""
    from harness.backends.base import BackendError
    from harness.backends.ssh_lab import lab_down

    try:
        n = lab_down(folder)
    except BackendError as e:
        fail(str(e))
    out.print(f"removed {n} host(s) and {folder}", markup=False)


def _add_campaign_group() -> None:
    from harness.campaign.cli import campaign

    cli.add_command(campaign)


_add_campaign_group()


def _add_mutate_command() -> None:
    from harness.mutate.cli import mutate

    cli.add_command(mutate)


_add_mutate_command()


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        fail("aborted")
    except click.ClickException as e:
        fail(e.format_message().replace("\n", " "))
    except UsageError as e:
        fail(str(e))
    except Exception as e:  # a bug or an input no check foresaw: never exit 1 (= invalid)
        if _debug:
            traceback.print_exc()
            fail(f"unexpected {type(e).__name__} (traceback above)")
        fail(f"unexpected {type(e).__name__}: {str(e)[:300]} (rerun with --debug for the traceback)")


if __name__ == "__main__":
    main()
