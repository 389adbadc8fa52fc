"""The mutation score of a ``faultbox mutate`` run, from its mutant records.

* ``total`` — valid mutants (invalid ones, which do not import, are left out);
* ``killed_by_unit_tests`` — the fast unit tests fail or hang: no harness needed
  (with ``--skip-unit-tests`` none are run and every valid mutant is judged);
* ``equivalent`` — surviving mutants judged to have no observable difference
  (``[equivalent]`` in the mutations file, each with its explanation);
* the **harness scores** are over the rest — unit-test survivors that are not
  equivalent: ``sim`` = killed by any checker in the simulation, ``sim_history`` =
  killed by a checker of the client history, ``sim_no_asserts`` = by a history
  checker or the divergence checker (nodes' status snapshots) — what a system
  without invariant asserts would still be caught by; ``sim_with_liveness`` also
  counts a survivor whose runs showed the system not working (an unknown verdict:
  no client op succeeded, or one client function never succeeded) — a CI run would
  not pass it, though no safety checker objects; ``docker`` and
  ``docker_history`` likewise over the Docker sample;
* ``overall_sim`` counts the unit-test kills as kills too (killed / total).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LIVE", "scores"]

# Unit-stage outcomes that send a mutant on to the harness stages.
LIVE = frozenset({"survived", "skipped"})


def _ratio(k: int, n: int) -> dict[str, Any]:
    return {"killed": k, "of": n, "score": round(k / n, 4) if n else None}


def scores(records: list[dict[str, Any]]) -> dict[str, Any]:
    valid = [r for r in records if (r.get("unit") or {}).get("outcome") != "invalid"]
    unit_killed = [r for r in valid if (r.get("unit") or {}).get("outcome") == "killed"]
    survivors = [r for r in valid if (r.get("unit") or {}).get("outcome") in LIVE]
    judged = [r for r in survivors if not r.get("equivalent")]
    sim_done = [r for r in judged if r.get("sim") is not None]
    sim_killed = [r for r in sim_done if r["sim"]["outcome"] == "killed"]
    sim_hist = [r for r in sim_done if r["sim"].get("by") == "history"]
    sim_live = [r for r in sim_done if r["sim"]["outcome"] == "killed" or r["sim"].get("liveness")]
    sim_ext = [r for r in sim_done if r["sim"].get("by") in ("history", "divergence")]
    dock = [r for r in judged if r.get("docker") is not None]
    dock_killed = [r for r in dock if r["docker"]["outcome"] == "killed"]
    dock_hist = [r for r in dock if r["docker"].get("by") == "history"]
    return {
        "mutants": len(records),
        "invalid": len(records) - len(valid),
        "total": len(valid),
        "killed_by_unit_tests": len(unit_killed),
        "survived_unit_tests": len(survivors),
        "equivalent": len(survivors) - len(judged),
        "sim": _ratio(len(sim_killed), len(sim_done)),
        "sim_history": _ratio(len(sim_hist), len(sim_done)),
        "sim_no_asserts": _ratio(len(sim_ext), len(sim_done)),
        "sim_with_liveness": _ratio(len(sim_live), len(sim_done)),
        "docker": _ratio(len(dock_killed), len(dock)),
        "docker_history": _ratio(len(dock_hist), len(dock)),
        "overall_sim": _ratio(len(unit_killed) + len(sim_killed),
                              len(unit_killed) + len(sim_done)),
        "sim_by_operator": _by(sim_done, "operator"),
    }


def _by(records: list[dict[str, Any]], key: str) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r.get(key)), []).append(r)
    return {k: _ratio(sum(1 for r in rs if r["sim"]["outcome"] == "killed"), len(rs))
            for k, rs in sorted(groups.items())}
