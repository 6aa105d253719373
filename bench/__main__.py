"""`python -m bench webhooks|worker|recompute|portal|workspace|all` (no name: all).

Each benchmark is the module `bench/<name>.py` with `main(argv: list[str]) -> int`.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("webhooks", "worker", "recompute", "portal", "workspace")


def main(argv: list[str]) -> int:
    usage = f"usage: python -m bench [{'|'.join((*BENCHMARKS, 'all'))}] [options]"
    if argv[:1] in (["-h"], ["--help"]):
        print(usage)
        print("`python -m bench NAME --help` lists a benchmark's options.")
        return 0
    name, rest = (argv[0], argv[1:]) if argv and not argv[0].startswith("-") else ("all", argv)
    if name not in BENCHMARKS and name != "all":
        print(usage, file=sys.stderr)
        return 2
    status = 0
    for bench in BENCHMARKS if name == "all" else (name,):
        module = importlib.import_module(f"bench.{bench}")
        print(f"== bench {bench} ==", flush=True)
        status = module.main(rest) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
