"""`python -m bench webhooks|recompute|portal|all` (no name: all).

Each benchmark is the module `bench/<name>.py` with `main(argv: list[str]) -> int`.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("webhooks", "recompute", "portal")


def main(argv: list[str]) -> int:
    name, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("all", argv)
    if name in {"-h", "--help"} or (name not in BENCHMARKS and name != "all"):
        print(f"usage: python -m bench [{'|'.join((*BENCHMARKS, 'all'))}] [options]")
        return 0 if name in {"-h", "--help"} else 2
    status = 0
    for bench in BENCHMARKS if name == "all" else (name,):
        module = importlib.import_module(f"bench.{bench}")
        print(f"== bench {bench} ==", flush=True)
        status = module.main(rest) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
