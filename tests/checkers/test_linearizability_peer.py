"""Peer agreement: every Porcupine and Knossos history gets the verdict its project expects."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from checkers.linearizability import check_history
from harness.formats import load_history
from tests import peer_data

CORPORA = {name: peer_data.corpus(name) for name in ("porcupine", "knossos")}  # a missing one fails


def model_spec(spec: str) -> tuple[str, Any]:
    """``cas-register:0`` -> ("cas-register", 0); ``multi-register:{x:0,y:0}`` -> dict init."""
    name, _, init = spec.partition(":")
    if not init:
        return name, None
    if init.startswith("{"):
        pairs = (kv.split(":") for kv in init.strip("{}").split(",") if kv)
        return name, {k.strip(): int(v) for k, v in pairs}
    return name, int(init)


def _cases() -> list[Any]:
    cases: list[Any] = []
    for corpus, folder in CORPORA.items():
        with open(folder / "expected.tsv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                cases.append(pytest.param(corpus, row, id=f"{corpus}/{row['file']}"))
    return cases


CASES = _cases()


def test_peer_corpus_present() -> None:
    assert len(CASES) >= 200  # 109 Porcupine + 122 Knossos files


@pytest.mark.parametrize(("corpus", "row"), CASES)
def test_peer_verdict(corpus: str, row: dict[str, str]) -> None:
    lh = load_history(CORPORA[corpus] / row["file"])  # the format is detected
    assert lh.format == row["format"]
    model, init = model_spec(row["model"]) if "model" in row else (lh.model, lh.init)
    assert model is not None
    res = check_history(lh.history, model, init, time_budget_s=60)
    want = {"valid": True, "invalid": False}[row["expected"]]
    assert res.valid is want, res.details.get("explanation") or res.details.get("reason")
    assert isinstance(res.details["states_explored"], int)
    if want is False:
        d = res.details
        assert d["explanation"] and d["failed_op"] in d["part_ops"]
        assert res.anomalies[0].kind == "nonlinearizable" and res.anomalies[0].ops == (d["failed_op"],)
        assert 1 <= len(d["partial_linearizations"]) <= 3
        lengths = [len(p) for p in d["partial_linearizations"]]
        assert lengths == sorted(lengths, reverse=True)
        assert all(set(p) <= set(d["part_ops"]) for p in d["partial_linearizations"])
