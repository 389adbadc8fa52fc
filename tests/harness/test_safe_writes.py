"""Files the harness writes where a system under test can plant symlinks (a node's
``ctl/`` and ``data/`` folders are bind-mounted into its container) are never written
through a symlink; and the image build lock is not a fixed name in /tmp."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from harness import image
from harness.backends.base import BackendError
from harness.backends.docker import DockerBackend, _Node
from harness.backends.local import LocalBackend
from harness.store import open_append, write_file, write_json

SECRET = "host file, must stay untouched\n"


def host_file(tmp_path: Path) -> Path:
    victim = tmp_path / "host-secret"
    victim.write_text(SECRET)
    return victim


def test_write_file_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "faketime").symlink_to(victim)
    write_file(ctl / "faketime", "+5\n")
    assert victim.read_text() == SECRET
    assert stat.S_ISREG((ctl / "faketime").lstat().st_mode)
    assert (ctl / "faketime").read_text() == "+5\n"
    assert sorted(p.name for p in ctl.iterdir()) == ["faketime"]  # no temporary left behind


def test_write_file_dangling_symlink_creates_nothing_at_its_target(tmp_path: Path) -> None:
    target = tmp_path / "would-be-created"
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    (ctl / "go").symlink_to(target)
    write_file(ctl / "go", b"")
    assert not target.exists()
    assert stat.S_ISREG((ctl / "go").lstat().st_mode)


def test_write_file_refuses_a_symlinked_parent_folder(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "ctl").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError):
        write_file(tmp_path / "ctl" / "faketime", "+0\n")
    assert list(elsewhere.iterdir()) == []


def test_open_append_refuses_a_symlink(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    (tmp_path / "server.log").symlink_to(victim)
    with pytest.raises(OSError):
        open_append(tmp_path / "server.log")
    assert victim.read_text() == SECRET
    with open_append(tmp_path / "fresh.log") as fh:
        fh.write(b"a")
    with open_append(tmp_path / "fresh.log") as fh:
        fh.write(b"b")
    assert (tmp_path / "fresh.log").read_bytes() == b"ab"


def test_write_json_does_not_follow_a_planted_tmp_or_target(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").symlink_to(victim)
    (run / "results.json.tmp").symlink_to(victim)  # the old fixed temporary name
    write_json(run / "results.json", {"valid": True})
    assert victim.read_text() == SECRET
    assert stat.S_ISREG((run / "results.json").lstat().st_mode)


def fake_docker_backend(tmp_path: Path) -> tuple[DockerBackend, Path]:
    b = DockerBackend(run_id="unit", progress=lambda msg: None)
    ctl = tmp_path / "ctl" / "n1"
    data = tmp_path / "data" / "n1"
    ctl.mkdir(parents=True)
    data.mkdir(parents=True)
    b._st.nodes["n1"] = _Node("n1", "10.9.0.2", None, data, ctl, pid=0)
    return b, ctl


def test_docker_clock_does_not_write_through_a_planted_faketime_symlink(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    b, ctl = fake_docker_backend(tmp_path)
    (ctl / "faketime").symlink_to(victim)
    (ctl / ".faketime.tmp").symlink_to(victim)  # the old fixed temporary name
    b.clock("n1", 30.0)
    assert victim.read_text() == SECRET
    assert (ctl / "faketime").read_text() == "+30.000000\n"
    assert (ctl / ".faketime.tmp").is_symlink()  # left alone, never opened


def test_docker_collect_logs_does_not_write_through_a_symlink(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    b, _ = fake_docker_backend(tmp_path)
    b._st.nodes.clear()
    b._st.logs["n1"] = b"server output\n"
    dest = tmp_path / "nodes"
    (dest / "n1").mkdir(parents=True)
    (dest / "n1" / "server.log").symlink_to(victim)
    b.collect_logs(dest)
    assert victim.read_text() == SECRET
    assert (dest / "n1" / "server.log").read_bytes() == b"server output\n"


def test_local_backend_log_is_not_opened_through_a_symlink(tmp_path: Path) -> None:
    victim = host_file(tmp_path)
    b = LocalBackend()
    log = tmp_path / "nodes" / "n1" / "server.log"
    log.parent.mkdir(parents=True)
    log.symlink_to(victim)
    b._log_paths["n1"] = log
    b._argv["n1"] = ["true"]
    with pytest.raises(BackendError, match="log of n1"):
        b.start("n1")
    assert victim.read_text() == SECRET


def test_image_lock_is_private_and_not_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "_ROOT_STATE_DIR", tmp_path / "state")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    folder = image.lock_dir()
    assert not str(folder).startswith("/tmp/faultbox")
    with image._build_lock():
        st = os.lstat(folder / image._LOCK_NAME)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o077 == 0
    assert os.lstat(folder).st_mode & 0o022 == 0


def test_image_lock_refuses_a_symlinked_or_shared_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = host_file(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    (state / image._LOCK_NAME).symlink_to(victim)
    monkeypatch.setattr(image, "_ROOT_STATE_DIR", state)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    folder = image.lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if folder == state:  # root: the planted symlink is refused
        with pytest.raises(image.ImageError, match="build lock"):
            with image._build_lock():
                pass
    os.chmod(folder, 0o777)
    with pytest.raises(image.ImageError, match="writable by nobody else"):
        with image._build_lock():
            pass
    assert victim.read_text() == SECRET
