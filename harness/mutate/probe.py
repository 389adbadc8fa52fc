"""``python -c BOOT <overlay> harness.mutate.probe MODULE…``: import the mutated modules.

Exit 0 when every module imports from the overlay, 1 (with the error on stderr)
when one does not: an *invalid mutant*, never a kill.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main"]


def main(modules: list[str]) -> int:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - any import failure makes the mutant invalid
            print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
