"""raftkv throughput and latency on local 127.0.0.1 clusters (prints a table).

    python3 bench/raftkv.py [--sizes 3,5] [--concurrency 1,10,50] [--seconds 3]

For each cluster size, a fresh cluster of server subprocesses (empty data
dirs, fsync on) is started; for each concurrency level, that many client
tasks (each its own ``KVClient``, as the harness would open them) run puts on
distinct keys, then gets, for ``--seconds`` each. Puts go to the leader (after
one redirect); gets are spread over all nodes (followers serve them through
ReadIndex). The client and every node share this machine's cores, so the
numbers are a floor, not a capacity claim.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import measure, print_table  # noqa: E402
from systems.raftkv import make_kv_client  # noqa: E402
from tests.raftkv.cluster import LocalCluster  # noqa: E402


def _run(cl: LocalCluster, op: str, conc: int, seconds: float) -> dict:
    def open_client(w: int):  # noqa: ANN202
        return make_kv_client(cl.addrs, cl.names[w % len(cl.names)], 5.0)

    async def one_op(client, w: int, i: int):  # noqa: ANN001, ANN202
        key = f"k{w}-{i % 100}"
        if op == "put":
            typ, _, _ = await client.invoke("write", [key, i])
        else:
            typ, _, _ = await client.invoke("read", [key, None])
        return None if typ == "ok" else typ

    return measure(open_client, one_op, conc, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--concurrency", default="1,10,50")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    concs = [int(x) for x in args.concurrency.split(",")]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="raftkv-bench-") as tmp, LocalCluster(
            size, Path(tmp)
        ) as cl:
            cl.up()
            for conc in concs:
                for op in ("put", "get"):
                    r = _run(cl, op, conc, args.seconds)
                    rows.append((size, conc, op, r))
                    print(
                        f"  nodes={size} conc={conc} {op}: {r['ops_s']:.0f} ops/s",
                        file=sys.stderr,
                    )
    print_table(["nodes", "conc", "op"], rows)


if __name__ == "__main__":
    main()
