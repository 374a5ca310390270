"""How long `tunebot demo --local` takes, end to end, as a person runs it.

    python bench/bench_demo_local.py [--runs 3]

Runs the command `--runs` times one after another and prints each wall time with the load
average it started under, then the best and the median. The README and `tunebot demo --help`
state the time this measures; on a machine shared with other work, the best run is the one
that says what the demo itself costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tunebot = str(Path(sys.executable).parent / "tunebot")
    print(f"{os.cpu_count()} CPUs; tunebot demo --local, {args.runs} runs")
    times = []
    for run in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as folder:
            result = subprocess.run(
                [tunebot, "demo", "--local"], cwd=folder, capture_output=True, text=True
            )
        took = time.monotonic() - started
        if result.returncode != 0:
            print(result.stdout + result.stderr, file=sys.stderr)
            return 1
        times.append(took)
        print(f"run {run}: {took:.0f} s (load average {load:.1f} at the start)")
    print(f"best {min(times):.0f} s, median {statistics.median(times):.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
