"""Peer agreement: every Elle history gets the verdict, anomaly types and ``not`` Elle reports."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from click.testing import CliRunner

from checkers.elle import check_list_append
from checkers.elle.models import implied_anomalies
from harness.cli import cli
from harness.formats import load_history
from tests.peer_data import corpus

ELLE = corpus("elle")  # in the repo: a missing corpus fails, it is never skipped


def _rows() -> list[Any]:
    with open(ELLE / "expected.tsv", encoding="utf-8") as fh:
        return [pytest.param(row, id=row["file"]) for row in csv.DictReader(fh, delimiter="\t")]


ROWS = _rows()


def test_elle_corpus_present() -> None:
    assert len(ROWS) >= 2


def _agrees(types: list[str], expected: str) -> bool:
    """Elle's anomaly types (or types implying them: a kind implied by one already
    found is not searched, as in Elle's per-SCC search), or the bounded "a cycle
    exists" answer its README allows."""
    want = expected.split(" (")[0].split(",")
    if all(t.strip() in implied_anomalies(types) for t in want):
        return True
    return "may time out" in expected and any(t.endswith("-cycle-exists") for t in types)


@pytest.mark.parametrize("row", ROWS)
def test_peer_verdict(row: dict[str, str]) -> None:
    lh = load_history(ELLE / row["file"])  # the format is detected
    assert lh.format == row["format"] and lh.model == row["workload"]
    res = check_list_append(lh.history, row["consistency_models"].split(","), time_budget_s=10)
    want = {"valid": True, "invalid": False}[row["expected"]]
    assert res.valid is want, res.details
    types = res.details["anomaly-types"]
    assert _agrees(types, row["anomaly_types"]), types
    assert res.details["not"] == [row["not"]]
    for a in res.anomalies:  # every anomaly explains itself and names ops
        assert a.explanation and (a.ops or a.kind == "cycle-search-timeout")


def test_cli_check_jepsen_edn() -> None:
    runner = CliRunner()
    f = str(ELLE / "si-without-g-single.edn")
    r = runner.invoke(cli, ["check", f, "--format", "jepsen-edn", "--consistency-models",
                            "snapshot-isolation,repeatable-read", "--json"])
    assert r.exit_code == 1, r.output
    row = json.loads(r.output)[0]
    assert row["verdict"] == "invalid" and row["anomaly_types"] == ["G2-item"]
    assert row["not"] == ["repeatable-read"]
    r = runner.invoke(cli, ["check", f, "--consistency-models", "snapshot-isolation"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(cli, ["check", f, "--consistency-models", "snapshot-isolaton"])
    assert r.exit_code == 2 and "unknown consistency model" in r.output
    assert len(r.output.strip().splitlines()) == 1
