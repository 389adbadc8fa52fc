"""A mutant as an overlay: a mutated copy of ``systems/`` put ahead of the repo's.

The copy lives in a folder of the mutate run (``<out>/overlays/<n>/systems``)
and is read-only for everything but this process. A child Python process
starts with :data:`BOOT`: it inserts the overlay folder at the head of
``sys.path`` and imports ``systems`` *before anything else*, so every later
``systems.*`` import — by the unit tests, the simulation adapter, the
harness — resolves through that package's ``__path__`` to the mutated copy,
whatever pytest or the editable install add to ``sys.path`` afterwards. The
child checks this and refuses to run otherwise (a mutant that silently ran
the original code would count as "survived").

Docker runs bake the overlay into a per-mutant node image (see
``harness.mutate.child``): the image is built offline ``FROM`` the base
image like the ordinary node image, with the overlay's ``systems/`` copied
in, so nothing is bind-mounted from a host folder a container could write.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.mutate.mutants import Mutant, apply

__all__ = ["BOOT", "REPO_ROOT", "SYSTEMS_DIR", "make_overlay", "child_argv", "run_child",
           "ChildResult", "kill_children"]

# Children still running, so an interrupted mutate run can end them all (each has its own
# process group, so a signal to the parent alone would leave them behind).
_LIVE: set[subprocess.Popen[str]] = set()
_LIVE_LOCK = threading.Lock()

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SYSTEMS_DIR = REPO_ROOT / "systems"

# argv[1] = overlay folder, argv[2] = what to run: "pytest" or a module name; rest: its args.
BOOT = (
    "import os, runpy, sys\n"
    "ov = os.path.realpath(sys.argv[1])\n"
    "sys.path.insert(0, ov)\n"
    "import systems\n"
    "if not os.path.realpath(systems.__file__).startswith(ov + os.sep):\n"
    "    sys.exit('faultbox mutate: the overlay did not take: systems is ' + systems.__file__)\n"
    "what, sys.argv = sys.argv[2], sys.argv[2:]\n"
    "if what == 'pytest':\n"
    "    import pytest\n"
    "    sys.exit(pytest.main(sys.argv[1:]))\n"
    "runpy.run_module(what, run_name='__main__', alter_sys=True)\n"
)


def make_overlay(root: Path, index: int, mutant: Mutant | None) -> Path:
    """``root/<index>/systems``: a copy of the repo's ``systems/`` with ``mutant`` applied
    (none: the original, for baselines). Returns the overlay folder (``root/<index>``)."""
    folder = root / str(index)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(SYSTEMS_DIR, folder / "systems",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if mutant is not None:
        path = folder / "systems" / mutant.file
        path.write_bytes(apply((SYSTEMS_DIR / mutant.file).read_bytes(), mutant))
    return folder


def child_argv(overlay: Path, what: str, *args: str) -> list[str]:
    return [sys.executable, "-c", BOOT, str(overlay), what, *args]


@dataclass(frozen=True, slots=True)
class ChildResult:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float


def run_child(argv: list[str], timeout_s: float, cwd: Path = REPO_ROOT) -> ChildResult:
    """Run a child in its own process group; at the timeout the whole group is killed."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ of mutated code anywhere
    env.setdefault("PYTHONHASHSEED", "0")
    t0 = time.monotonic()
    with _LIVE_LOCK:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        _LIVE.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout_s)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        code = None
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(proc)
    return ChildResult(code, out, err, round(time.monotonic() - t0, 2))


def kill_children(grace_s: float = 30.0) -> int:
    """Stop every running child's process group; how many there were."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for proc in live:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc, signal.SIGKILL)
    return len(live)


def _kill_group(proc: subprocess.Popen[str], grace_s: float = 30.0) -> None:
    """SIGTERM first (a Docker child tears its cluster down on it), SIGKILL after ``grace_s``."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[str], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
