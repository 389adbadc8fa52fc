"""The hand-written Elle regression corpus (tests/data/elle-regression): every anomaly
class, each history against its expected anomaly set and ``not`` models, and against
every consistency model of the lattice (invalid exactly above its ``not``)."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from checkers.core import UNKNOWN
from checkers.elle import CONSISTENCY_MODELS, check_list_append
from checkers.elle.checker import UNKNOWN_TYPES
from checkers.elle.models import STRONGER, impossible_models
from harness.cli import cli
from harness.formats import load_history
from harness.history import History

CORPUS = Path(__file__).resolve().parents[1] / "data" / "elle-regression"
VERDICTS = {"valid": True, "invalid": False, "unknown": UNKNOWN}

# Every class the issue names must have a history that shows it.
CLASSES = {
    "G0", "G1a", "G1b", "G1c", "G-single-item", "G-nonadjacent-item", "G2-item",
    "G-single-item-realtime", "G-single-item-process", "internal", "future-read",
    "lost-update", "dirty-update", "incompatible-order", "duplicate-elements",
    "empty-transaction-graph",
}


def _rows() -> list[dict[str, str]]:
    with open(CORPUS / "expected.tsv", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


ROWS = _rows()
FILES = sorted({r["file"] for r in ROWS})


def _set(cell: str) -> set[str]:
    return set() if cell == "-" else set(cell.split(","))


@cache
def _history(name: str) -> History:
    lh = load_history(CORPUS / name)
    assert (lh.format, lh.model) == ("jepsen-edn", "list-append")
    return lh.history


def test_corpus_covers_every_class() -> None:
    found = set().union(*(_set(r["anomaly_types"]) for r in ROWS))
    assert CLASSES <= found, CLASSES - found
    assert sorted(p.name for p in CORPUS.glob("*.edn")) == FILES


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['file']}:{r['consistency_models']}" for r in ROWS])
def test_row(row: dict[str, str]) -> None:
    res = check_list_append(_history(row["file"]), row["consistency_models"].split(","))
    assert res.valid == VERDICTS[row["expected"]], res.details
    assert set(res.details["anomaly-types"]) == _set(row["anomaly_types"])
    assert set(res.details["not"]) == _set(row["not"])
    for a in res.anomalies:  # every anomaly explains itself in a sentence naming its ops
        assert a.explanation.strip()
        if a.kind not in UNKNOWN_TYPES:
            assert a.ops and all(f"T{i}" in a.explanation for i in a.ops[:2]), a


def _upward(models: set[str]) -> set[str]:
    """The models and every model stronger than one of them."""
    out = set(models)
    changed = True
    while changed:
        changed = False
        for m, weaker in STRONGER.items():
            if m not in out and out & set(weaker):
                out.add(m)
                changed = True
    return out


@pytest.mark.parametrize("name", FILES)
def test_every_model_both_ways(name: str) -> None:
    """Invalid exactly for the models at or above the history's ``not`` list (hand-written
    in the TSV from Elle's lattice), valid for all others; the empty graph is unknown."""
    rows = [r for r in ROWS if r["file"] == name]
    nots = set().union(*(_set(r["not"]) for r in rows))
    if name == "valid.edn":
        assert nots == set()
    ruled_out = _upward(nots)
    types = set().union(*(_set(r["anomaly_types"]) for r in rows)) - UNKNOWN_TYPES
    assert impossible_models(types) == ruled_out  # the lattice agrees with the hand-written lists
    h = _history(name)
    for model in CONSISTENCY_MODELS:
        res = check_list_append(h, [model])
        if name == "empty-transaction-graph.edn":
            want: Any = UNKNOWN
        else:
            want = model not in ruled_out
        assert res.valid == want, (model, res.details["anomaly-types"])


def test_repeatable_read_rejects_item_cycles_with_one_rw() -> None:
    """Issue 19's first finding: G-single/G-nonadjacent item cycles are G2-item (Adya)."""
    for name in ("g-single-item.edn", "g-nonadjacent-item.edn", "vector-keys.edn"):
        assert check_list_append(_history(name), ["repeatable-read"]).valid is False


def test_faultbox_check_accepts_vector_and_map_keys() -> None:
    r = CliRunner().invoke(cli, ["check", str(CORPUS / "vector-keys.edn"),
                                 "--consistency-models", "serializable", "--json"])
    assert r.exit_code == 1, r.output
    row = json.loads(r.output)[0]
    assert row["verdict"] == "invalid" and row["anomaly_types"] == ["G-single-item"]
    text = row["anomalies"][0]["explanation"]
    assert "key ['anti' 3]" in text and "key {'m' 1}" in text


def test_empty_graph_is_unknown_with_its_reason_on_the_cli() -> None:
    r = CliRunner().invoke(cli, ["check", str(CORPUS / "empty-transaction-graph.edn"), "--json"])
    assert r.exit_code == 2, r.output
    row = json.loads(r.output)[0]
    assert row["verdict"] == "unknown" and row["anomaly_types"] == ["empty-transaction-graph"]
    assert "no dependency" in row["reason"]


def test_report_shows_the_new_classes(tmp_path: Path) -> None:
    """The HTML report lists any anomaly kind generically: kind, sentence, op links."""
    import reports

    h = _history("dirty-update.edn")
    res = check_list_append(h, ["read-committed"])
    h.to_jsonl(tmp_path / "history.jsonl")
    (tmp_path / "test.json").write_text(json.dumps({"name": "elle", "system": "none"}))
    (tmp_path / "results.json").write_text(json.dumps(
        {"valid": False, "verdict": "invalid", "checkers": {"elle": res.to_dict()}}, default=repr))
    html = reports.render_report(tmp_path).read_text()
    du = next(a for a in res.anomalies if a.kind == "dirty-update")
    assert '<span class="kind">dirty-update</span>' in html
    assert "a committed update built on an aborted one" in html
    assert all(f'href="#op-{i}"' in html for i in du.ops)
