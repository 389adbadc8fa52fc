"""A node's container plants symlinks in its bind-mounted ``/data`` and ``/run/faultbox``
(the host's ``data/<node>`` and ``ctl/<node>``) pointing at a host file: the harness
(root) never writes through them — clock changes and restarts go on working — and
``serve`` follows none of them (real containers, real HTTP)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import reports
from harness.backends.docker import DockerBackend
from tests.integration.conftest import run_id
from tests.reports.fixtures import serving, write_run

pytestmark = pytest.mark.docker

SECRET = "host file: must stay untouched and unserved\n"


@pytest.fixture(scope="module")
def planted(node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    tuple[DockerBackend, Path, Path]
]:
    """One memkv node whose run folder is a run of a store, plus a host file to aim at."""
    from systems import get_system

    tmp = tmp_path_factory.mktemp("planted")
    victim = tmp / "host-secret.txt"
    victim.write_text(SECRET)
    run = write_run(tmp / "store" / "memkv" / "20261125T100000Z", n_ops=10)
    backend = DockerBackend(run_id("s"), image=node_image)
    try:
        backend.up(get_system("memkv"), ["n1"], run, seed=1)
        yield backend, run, victim
    finally:
        backend.down()


def sh(b: DockerBackend, cmd: str) -> str:
    rc, out = b.exec("n1", ["sh", "-c", cmd])
    assert rc == 0, out
    return out


def test_harness_does_not_write_through_symlinks_planted_by_the_container(
    planted: tuple[DockerBackend, Path, Path],
) -> None:
    b, run, victim = planted
    # The container points its control files at a host path (the link is resolved on the host).
    sh(b, f"ln -sf {victim} /run/faultbox/faketime && ln -sf {victim} /run/faultbox/.faketime.tmp")
    sh(b, f"ln -sf {victim} /data/evil")
    b.clock("n1", 60.0)
    assert victim.read_text() == SECRET
    assert (run / "ctl" / "n1" / "faketime").read_text().startswith("+60")
    assert not (run / "ctl" / "n1" / "faketime").is_symlink()
    out = sh(b, "python3 -c 'import time; print(time.time())'")
    assert float(out.strip().splitlines()[-1]) > 0  # the node still reads its clock file
    b.kill("n1")
    (run / "ctl" / "n1" / "go").symlink_to(victim)  # as if planted before the server died
    b.start("n1")
    b.wait_ready(["n1"])
    assert victim.read_text() == SECRET
    b.clock("n1", 0.0)
    assert victim.read_text() == SECRET


def test_serve_follows_no_symlink_planted_by_the_container(
    planted: tuple[DockerBackend, Path, Path],
) -> None:
    b, run, victim = planted
    sh(b, f"ln -sf {victim} /data/evil2 && echo plain > /data/plain.txt")
    sh(b, f"ln -sf {victim} /run/faultbox/evil3")
    store = run.parent.parent
    reports.render_index(store)
    with serving(store) as base:
        rel = "/memkv/20261125T100000Z"
        with urllib.request.urlopen(f"{base}{rel}/test.json", timeout=10) as resp:
            assert resp.status == 200
        for path in ("data/n1/evil2", "data/n1/plain.txt", "ctl/n1/evil3", "ctl/n1/faketime",
                     "data/n1/", "ctl/n1/"):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(f"{base}{rel}/{path}", timeout=10)
            assert e.value.code == 404, path
            assert b"host file" not in e.value.read()
