"""The node image, built without a container registry (DESIGN §5).

Two layers, each tagged by a hash of its inputs so nothing is rebuilt unless
an input changed:

* ``faultbox-base:<hash>`` — a minimal Debian made by ``debootstrap`` from the
  machine's configured apt mirror (python3, iproute2, iptables, procps,
  libfaketime; openssh-server and sudo for the SSH backend's test hosts),
  trimmed of docs and locales and of the SSH host keys the package generated
  (every host made from the image gets its own), then ``docker import``-ed.
* ``faultbox-node:<hash>`` — ``images/Dockerfile`` built ``FROM`` the base,
  with ``systems/`` and the faketime ``sitecustomize`` copied in.

Where a registry is reachable, ``FAULTBOX_IMAGE_BASE=python:3.11-slim`` skips
debootstrap and builds the same Dockerfile from that image.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_PACKAGES",
    "ImageError",
    "base_tag",
    "build_cmd_main",
    "ensure_image",
    "node_tag",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO_ROOT / "images"
SYSTEMS_DIR = REPO_ROOT / "systems"
SUITE = "bookworm"
BASE_PACKAGES = (
    "python3", "iproute2", "iptables", "procps", "libfaketime", "faketime",
    "openssh-server", "sudo",  # the SSH backend's test hosts (tests/ssh, `faultbox ssh-lab`)
)
# Bump when the base recipe changes in a way the inputs above do not show.
_RECIPE = "debootstrap-minbase-trim-v2-no-host-keys"
# Generated at install time: an image must never ship one host key to every host.
_HOST_KEY_GLOB = "etc/ssh/ssh_host_*"
_TRIM = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "usr/share/lintian",
    "var/lib/apt/lists",
    "var/cache/apt",
    "var/cache/debconf/templates.dat-old",
)
# The build lock lives in a folder only its owner can write (never a fixed name in
# a world-writable /tmp, where another user could plant a symlink or hold the lock):
# for root the root-owned cache folder that also holds debootstrap's cache, for
# anyone else $XDG_RUNTIME_DIR/faultbox or ~/.cache/faultbox.
_ROOT_STATE_DIR = Path("/var/cache/faultbox")
_LOCK_NAME = "image.lock"
_DEBOOTSTRAP_CACHE = _ROOT_STATE_DIR / "debootstrap"
LABEL = "faultbox"

Progress = Callable[[str], None]


class ImageError(RuntimeError):
    """The node image could not be built; the message is one line for the user."""


def _client() -> Any:
    import docker

    try:
        return docker.from_env(timeout=600)
    except docker.errors.DockerException as e:
        raise ImageError(f"no Docker engine reachable: {e}") from e


def _hash(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "big"))
        h.update(p)
    return h.hexdigest()[:12]


def _tree_files(root: Path) -> list[Path]:
    """Source files of a tree, stable order, without caches."""
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            out.append(p)
    return out


def base_tag(registry_base: str | None = None) -> str:
    if registry_base:
        return registry_base
    parts = [_RECIPE.encode(), SUITE.encode(), ",".join(BASE_PACKAGES).encode()]
    parts += [t.encode() for t in _TRIM]
    return f"faultbox-base:{_hash(parts)}"


def node_tag(base: str) -> str:
    parts = [base.encode()]
    for name in ("Dockerfile", "sitecustomize.py"):
        parts.append((IMAGES_DIR / name).read_bytes())
    for p in _tree_files(SYSTEMS_DIR):
        parts.append(str(p.relative_to(REPO_ROOT)).encode())
        parts.append(p.read_bytes())
    return f"faultbox-node:{_hash(parts)}"


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (``FAULTBOX_APT_MIRROR`` overrides)."""
    env = os.environ.get("FAULTBOX_APT_MIRROR")
    if env:
        return env
    candidates: list[str] = []
    src_dir = Path("/etc/apt/sources.list.d")
    for f in sorted(src_dir.glob("*.sources")) if src_dir.is_dir() else []:
        for m in re.finditer(r"^URIs:\s*(\S+)", f.read_text(errors="replace"), re.M):
            candidates.append(m.group(1))
    lst = Path("/etc/apt/sources.list")
    if lst.is_file():
        for m in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", lst.read_text(errors="replace"), re.M):
            candidates.append(m.group(1))
    for uri in candidates:
        if uri.rstrip("/").endswith("/debian"):
            return uri
    return "http://deb.debian.org/debian"


def _image_exists(client: Any, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def lock_dir() -> Path:
    """The folder of the image build lock (see ``_ROOT_STATE_DIR``)."""
    if os.geteuid() == 0:
        return _ROOT_STATE_DIR
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return (Path(runtime) if runtime else Path.home() / ".cache") / "faultbox"


def _open_lock_file() -> int:
    """The lock file's descriptor, after checking its folder is private to this user."""
    folder = lock_dir()
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.lstat(folder)
    except OSError as e:
        raise ImageError(f"cannot create the build lock folder {folder}: {e.strerror}") from e
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise ImageError(
            f"the build lock folder {folder} must be a folder owned by this user "
            "and writable by nobody else"
        )
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(folder / _LOCK_NAME, flags, 0o600)
    except OSError as e:
        raise ImageError(f"cannot open the build lock {folder / _LOCK_NAME}: {e.strerror}") from e


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """One build at a time on this machine (tests and CLI may race)."""
    fd = _open_lock_file()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _run(argv: list[str], progress: Progress, what: str) -> None:
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ImageError(f"{what} failed (exit {proc.returncode}): {' | '.join(tail)}")
    progress(f"{what}: {time.monotonic() - t0:.1f}s")


def _build_base(client: Any, tag: str, progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise ImageError(
            "debootstrap is not installed (apt-get install -y debootstrap), "
            "or set FAULTBOX_IMAGE_BASE=python:3.11-slim where a registry is reachable"
        )
    if os.geteuid() != 0:
        raise ImageError("building the base image with debootstrap needs root")
    mirror = apt_mirror()
    _DEBOOTSTRAP_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="faultbox-base-") as tmp:
        root = Path(tmp) / "root"
        progress(f"debootstrap {SUITE} from {mirror} (about a minute)")
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                f"--cache-dir={_DEBOOTSTRAP_CACHE}",
                SUITE,
                str(root),
                mirror,
            ],
            progress,
            "debootstrap",
        )
        for rel in _TRIM:
            target = root / rel
            if target.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                target.mkdir(parents=True, exist_ok=True)
            elif target.exists():
                target.unlink()
        for key in root.glob(_HOST_KEY_GLOB):
            key.unlink()
        archive = Path(tmp) / "rootfs.tar"
        _run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(archive), "."], progress, "tar")
        repo, _, version = tag.partition(":")
        t0 = time.monotonic()
        client.api.import_image_from_file(
            str(archive),
            repository=repo,
            tag=version,
            changes=[f"LABEL {LABEL}=base", 'CMD ["python3"]'],
        )
        progress(f"docker import: {time.monotonic() - t0:.1f}s")


def _context_tar() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("Dockerfile", "sitecustomize.py"):
            tar.add(str(IMAGES_DIR / name), arcname=name)
        for p in _tree_files(SYSTEMS_DIR):
            tar.add(str(p), arcname=str(p.relative_to(REPO_ROOT)))
    buf.seek(0)
    return buf


def _build_node(client: Any, base: str, tag: str, progress: Progress) -> None:
    import docker

    t0 = time.monotonic()
    try:
        client.images.build(
            fileobj=_context_tar(),
            custom_context=True,
            tag=tag,
            buildargs={"BASE": base},
            labels={LABEL: "node"},
            rm=True,
            forcerm=True,
            pull=False,
        )
    except docker.errors.BuildError as e:
        lines = [str(c.get("stream", c.get("error", ""))).strip() for c in e.build_log]
        tail = " | ".join(x for x in lines if x)[-400:]
        raise ImageError(f"node image build failed: {e.msg}: {tail}") from e
    except docker.errors.APIError as e:
        raise ImageError(f"node image build failed: {e.explanation or e}") from e
    progress(f"node image {tag}: {time.monotonic() - t0:.1f}s")


def ensure_image(rebuild: bool = False, progress: Progress | None = None) -> str:
    """Return the node image tag, building base and node images if missing.

    ``rebuild`` forces both layers to be made again. Safe to call from
    several processes at once (a file lock serialises builds).
    """
    say: Progress = progress or (lambda _msg: None)
    registry_base = os.environ.get("FAULTBOX_IMAGE_BASE") or None
    client = _client()
    base = base_tag(registry_base)
    tag = node_tag(base)
    if not rebuild and _image_exists(client, tag):
        return tag
    with _build_lock():
        if not rebuild and _image_exists(client, tag):
            return tag
        if registry_base is None and (rebuild or not _image_exists(client, base)):
            say(f"building base image {base}")
            _build_base(client, base, say)
        say(f"building node image {tag} from {base}")
        _build_node(client, base, tag, say)
        with contextlib.suppress(Exception):  # images a rebuild replaced
            client.images.prune(filters={"dangling": True, "label": LABEL})
    return tag


def build_cmd_main(rebuild: bool = False, echo: Progress | None = None) -> int:
    """``faultbox image build``: build if needed, print the tag; exit code 0/2."""
    out: Progress = echo or (lambda msg: print(msg, file=sys.stderr))
    t0 = time.monotonic()
    try:
        tag = ensure_image(rebuild=rebuild, progress=out)
    except ImageError as e:
        out(f"error: {e}")
        return 2
    out(f"{tag} ready in {time.monotonic() - t0:.1f}s")
    print(tag)
    return 0
