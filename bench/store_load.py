"""Loading a run's results.json / test.json (reports.load.load_json_object): time per size.

    python bench/store_load.py [--repeat 5]

One row per input: a well-formed results.json of growing size (anomaly lists), and
hostile inputs of the same sizes (long digit runs just under Python's 4300-digit
limit, nesting at the depth bound, a long run of lone-surrogate escapes that the
loader repairs).  Load time should grow linearly with size: compare the MB/s column
across rows.  Prints the median of ``--repeat`` loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reports.load import MAX_JSON_DEPTH, RunFileError, load_json_object  # noqa: E402


def results_json(mb: int) -> bytes:
    anomaly = {"kind": "nonlinearizable", "explanation": "x" * 200, "ops": list(range(20))}
    n = mb * 2**20 // len(json.dumps(anomaly))
    return json.dumps({"valid": False, "checkers": {"linearizable": {"anomalies": [anomaly] * n}}}).encode()


def digits_json(mb: int) -> bytes:
    n = mb * 2**20 // 4300
    return b'{"v": [' + b",".join([b"9" * 4299] * n) + b"]}"


def nested_json(mb: int) -> bytes:
    one = b"[" * (MAX_JSON_DEPTH - 2) + b"1" + b"]" * (MAX_JSON_DEPTH - 2)
    n = mb * 2**20 // (len(one) + 1)
    return b'{"v": [' + b",".join([one] * n) + b"]}"


def surrogates_json(mb: int) -> bytes:
    n = mb * 2**20 // 6
    return b'{"v": "' + b"\\ud800" * n + b'"}'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sizes", default="1,8,32", help="MB, comma-separated")
    args = ap.parse_args()
    print(f"{'input':<12} {'MB':>6} {'median s':>9} {'MB/s':>7}  outcome")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.json"
        for name, make in (("results", results_json), ("digits", digits_json),
                           ("nested", nested_json), ("surrogates", surrogates_json)):
            for mb in (int(x) for x in args.sizes.split(",")):
                data = make(mb)
                path.write_bytes(data)
                times, outcome = [], ""
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    try:
                        load_json_object(path)
                        outcome = "loaded"
                    except RunFileError as e:
                        outcome = str(e)
                    times.append(time.perf_counter() - t0)
                med = statistics.median(times)
                size = len(data) / 2**20
                print(f"{name:<12} {size:>6.1f} {med:>9.3f} {size / med:>7.0f}  {outcome}")


if __name__ == "__main__":
    main()
