"""Docker integration fixtures: the node image once per session, a memkv cluster per module."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker import DockerBackend, docker_available


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if docker_available():
        return
    skip = pytest.mark.skip(reason="no Docker engine reachable")
    for item in items:
        if "docker" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def node_image() -> str:
    from harness.image import ensure_image

    t0 = time.monotonic()
    tag = ensure_image(progress=lambda msg: print(f"[image] {msg}"))
    print(f"[image] {tag} ready in {time.monotonic() - t0:.1f}s")
    return tag


def run_id(prefix: str) -> str:
    return f"t{prefix}{os.getpid()}{int(time.time() * 1000) % 100000}"


@pytest.fixture(scope="module")
def memkv3(node_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DockerBackend]:
    """Three memkv nodes (memkv ignores its peers): a cheap cluster to fault."""
    from systems import get_system

    backend = DockerBackend(run_id("m"), image=node_image)
    try:
        backend.up(get_system("memkv"), ["n1", "n2", "n3"], tmp_path_factory.mktemp("memkv3"),
                   seed=1)
        yield backend
    finally:
        backend.down()


def run_dir(tmp_path: Path) -> Path:
    return tmp_path
