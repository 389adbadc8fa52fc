"""Outputs of ``faultbox mutate``: ``mutate.json``, ``mutate.html`` (Jinja2, escaped) and a
rich table of the mutants with the scores on stdout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = ["write_outputs", "print_table", "ratio_text"]


def ratio_text(r: dict[str, Any] | None) -> str:
    if not r or not r.get("of"):
        return "–"
    return f"{r['killed']}/{r['of']} = {100 * r['score']:.0f}%"


def write_outputs(doc: dict[str, Any], out: Path) -> tuple[Path, Path]:
    from reports.render import environment, write_atomic

    out.mkdir(parents=True, exist_ok=True)
    jpath, hpath = out / "mutate.json", out / "mutate.html"
    write_atomic(jpath, json.dumps(doc, indent=1, sort_keys=False, default=str))
    page = environment().get_template("mutate.html.j2").render(
        doc=doc, s=doc["scores"], ratio=ratio_text,
        generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))
    write_atomic(hpath, page)
    return jpath, hpath


def _cell(st: dict[str, Any] | None) -> str:
    if not st:
        return "[dim]–[/dim]"
    o = st.get("outcome", "")
    colour = {"killed": "green", "survived": "red"}.get(o, "yellow")
    text = f"[{colour}]{o}[/{colour}]"
    if st.get("caught_by"):
        text += f" {escape(','.join(st['caught_by']))} (run {st.get('runs_to_kill')}, {st.get('seconds_to_kill')} s)"
    elif o == "survived":
        text += f" ({len(st.get('runs', []))} runs)"
        if st.get("liveness"):
            text += f" [yellow]liveness: {escape(st['liveness']['why'])}[/yellow]"
    return text


def print_table(doc: dict[str, Any], console: Console) -> None:
    table = Table(title=f"faultbox mutate: {escape(str(doc['system']))}", show_lines=False)
    for col in ("mutant", "unit tests", "sim", "docker"):
        table.add_column(col, overflow="fold")
    for r in doc["mutants"]:
        u = r.get("unit") or {}
        unit = u.get("outcome", "–")
        unit = {"killed": "[green]killed[/green]", "invalid": "[yellow]invalid[/yellow]"}.get(unit, unit)
        name = escape(r["id"]) + (" [dim](equivalent)[/dim]" if r.get("equivalent") else "")
        table.add_row(name, unit, _cell(r.get("sim")), _cell(r.get("docker")))
    console.print(table)
    s = doc["scores"]
    console.print(
        f"mutants {s['mutants']}: {s['invalid']} invalid, {s['killed_by_unit_tests']} killed by unit "
        f"tests, {s['equivalent']} equivalent")
    console.print(f"[bold]sim score {ratio_text(s['sim'])}[/bold] (history checkers only "
                  f"{ratio_text(s['sim_history'])}, without node asserts "
                  f"{ratio_text(s.get('sim_no_asserts'))}, with liveness "
                  f"{ratio_text(s.get('sim_with_liveness'))}); [bold]Docker score {ratio_text(s['docker'])}"
                  f"[/bold] (history checkers only {ratio_text(s['docker_history'])}); "
                  f"wall {doc['wall_seconds']:.0f} s")
