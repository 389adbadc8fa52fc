"""Lock-service round trips on local 127.0.0.1 clusters (prints a table).

    python3 bench/lock.py [--sizes 3,5] [--concurrency 10,50] [--seconds 3]

For each cluster size, a fresh cluster of lock-server subprocesses (empty data
dirs, fsync on) is started; for each concurrency level, that many client tasks
(each its own ``LockClient``, as the harness would open them) loop
acquire -> release on a lock of their own (uncontended: this measures the
service, two committed log entries per round trip, not queueing on one
lock) for ``--seconds``. A round trip counts when both steps were ok; its
latency is from the acquire's start to the release's answer. The client and
every node share this machine's cores, so the numbers are a floor, not a
capacity claim.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import measure, print_table  # noqa: E402
from systems.lock import make_lock_client  # noqa: E402
from tests.lock.cluster import LockCluster  # noqa: E402

TTL_MS = 5000


def _run(cl: LockCluster, conc: int, seconds: float) -> dict:
    def open_client(w: int):  # noqa: ANN202
        return make_lock_client(cl.addrs, cl.names[w % len(cl.names)], 5.0)

    async def one_op(client, w: int, i: int):  # noqa: ANN001, ANN202
        lock = f"L{w}"
        typ, got, err = await client.invoke("acquire", {"lock": lock, "ttl_ms": TTL_MS})
        if typ != "ok":
            return err
        typ, _, err = await client.invoke("release", {"lock": lock, "token": got["token"]})
        return None if typ == "ok" else err

    return measure(open_client, one_op, conc, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="3,5")
    ap.add_argument("--concurrency", default="10,50")
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    rows = []
    for size in [int(x) for x in args.sizes.split(",")]:
        with tempfile.TemporaryDirectory(prefix="lock-bench-") as tmp, LockCluster(
            size, Path(tmp)
        ) as cl:
            cl.up()
            for conc in [int(x) for x in args.concurrency.split(",")]:
                r = _run(cl, conc, args.seconds)
                rows.append((size, conc, r))
                print(f"  nodes={size} conc={conc}: {r['ops_s']:.0f} round trips/s",
                      file=sys.stderr)
    print_table(["nodes", "conc"], rows, rate="rt/s")


if __name__ == "__main__":
    main()
