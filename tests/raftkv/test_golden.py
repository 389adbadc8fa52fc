"""Golden interaction scenarios (datadriven style, as in etcd-io/raft's testdata).

Each file in golden/ is a script: lines starting with ``> `` are commands, the
lines after a command are what the simulation printed while running it. The
test replays the commands and compares the whole file. Rewrite the files
after an intended behaviour change with ``FAULTBOX_REWRITE_GOLDEN=1`` and
review the diff.

Commands: new size=N seed=S [snapshot_every=K] [bugs=a,b] | elect N | campaign N |
put N KEY VALUE [CLIENT SEQ] | read N KEY | tick N [TIMES] | run TICKS |
deliver [COUNT] | drop [COUNT] | stabilize | isolate N | cut A B | heal |
crash N | restart N | transfer FROM TO | status | log N | replies
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from systems.raftkv.core import Config
from systems.raftkv.node import NodeConfig
from systems.raftkv.sim import SimCluster

GOLDEN = Path(__file__).parent / "golden"
REWRITE = os.environ.get("FAULTBOX_REWRITE_GOLDEN") == "1"


class Script:
    def __init__(self) -> None:
        self.sim: SimCluster | None = None
        self.seen_replies: set[int] = set()

    def run(self, line: str) -> list[str]:
        words = line.split()
        cmd, args = words[0], words[1:]
        if cmd == "new":
            opts = dict(a.split("=", 1) for a in args)
            cfg = NodeConfig(
                raft=Config(max_msg_entries=int(opts.get("max_entries", 64))),
                snapshot_every=int(opts.get("snapshot_every", 1000)),
            )
            bugs = [b for b in opts.get("bugs", "").split(",") if b]
            self.sim = SimCluster(int(opts["size"]), int(opts["seed"]), bugs, cfg, trace=True)
            self.seen_replies = set()
            out, self.sim.trace = self.sim.trace or [], []
            return out
        s = self.sim
        assert s is not None and s.trace is not None, "script must start with `new`"
        quiet = False
        extra: list[str] = []
        if cmd == "elect":
            s.elect(args[0])
        elif cmd == "campaign":
            s.campaign(args[0])
        elif cmd == "put":
            client, seq = (args[3], int(args[4])) if len(args) > 3 else ("c", 1)
            s.put(args[0], args[1], args[2], client=client, seq=seq)
        elif cmd == "read":
            s.read(args[0], args[1])
        elif cmd == "tick":
            s.tick(args[0], int(args[1]) if len(args) > 1 else 1)
        elif cmd == "run":
            s.run(int(args[0]))
            quiet = True
        elif cmd == "deliver":
            for _ in range(int(args[0]) if args else 1):
                s.deliver(0)
        elif cmd == "drop":
            for _ in range(int(args[0]) if args else 1):
                s.drop(0)
        elif cmd == "stabilize":
            s.stabilize()
        elif cmd == "isolate":
            s.isolate(args[0])
        elif cmd == "cut":
            s.cut(args[0], args[1])
        elif cmd == "heal":
            s.heal()
        elif cmd == "crash":
            s.crash(args[0])
        elif cmd == "restart":
            s.restart(args[0])
        elif cmd == "transfer":
            s.nodes[args[0]].transfer(args[1])
            s.process(args[0])
        elif cmd == "status":
            extra = status_lines(s)
        elif cmd == "log":
            extra = [log_line(s, args[0])]
        elif cmd != "replies":
            raise ValueError(f"unknown command {cmd!r}")
        out, s.trace = s.trace, []
        if quiet:
            out = [x for x in out if "heartbeat" not in x and " app" not in x]
        for token in sorted(set(s.replies) - self.seen_replies):
            self.seen_replies.add(token)
            out.append(f"reply #{token}: {s.replies[token]}")
        return out + extra


def status_lines(s: SimCluster) -> list[str]:
    out = []
    for n in s.names:
        if n not in s.nodes:
            out.append(f"{n}: down")
            continue
        st = s.nodes[n].status()
        out.append(
            f"{n}: {st['role']} term={st['term']} leader={st['leader']} "
            f"commit={st['commit']} applied={st['applied']} last={st['last_index']}"
        )
    return out


def log_line(s: SimCluster, n: str) -> str:
    log = s.nodes[n].core.log
    snap = log.snapshot
    return f"snapshot={snap.index}/{snap.term} " + " ".join(
        f"{e.index}/{e.term}" for e in log.entries
    )


def render(text: str) -> str:
    script = Script()
    lines: list[str] = []
    for raw in text.splitlines():
        if raw.startswith("#") or (not raw.strip() and not lines):
            lines.append(raw)
        elif raw.startswith("> "):
            if lines and lines[-1].strip() and not lines[-1].startswith("#"):
                lines.append("")
            lines.append(raw)
            lines.extend(script.run(raw[2:]))
    return "\n".join(lines).rstrip() + "\n"


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.txt")), ids=lambda p: p.stem)
def test_golden(path: Path):
    want = path.read_text()
    got = render(want)
    if REWRITE:
        path.write_text(got)
        return
    assert got == want, f"{path.name} differs; rerun with FAULTBOX_REWRITE_GOLDEN=1 and review"


def test_golden_files_exist():
    assert len(list(GOLDEN.glob("*.txt"))) >= 5
