"""Runs made by the ``faultbox`` fixture in these tests go to a temporary store, not ./store."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _faultbox_store_in_tmp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(request.config.option, "faultbox_store", str(tmp_path_factory.mktemp("store")))
