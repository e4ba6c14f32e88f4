"""How long the built-in data set takes to generate (the issue's bar: the default 725 images in under 60 s on 2 cores).

    .venv/bin/python benchmarks/default_data_speed.py [--workers 2] [--seed 0] [--keep DIR]

Generates into a temporary folder (never into data/), prints the seconds, and checks the count.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toyrobot_utils.synthetic import default_data  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it (must hold no photos)")
    args = parser.parse_args(argv)
    tmp = None
    if args.keep is None:
        tmp = Path(tempfile.mkdtemp(prefix="toyrobot-speed-"))
        target = tmp / "data"
    else:
        target = args.keep
    try:
        start = time.perf_counter()
        manifest = default_data.generate(target, seed=args.seed, workers=args.workers)
        seconds = time.perf_counter() - start
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"generated {len(manifest)} images with {args.workers} worker(s) in {seconds:.1f} s "
          f"({seconds / len(manifest) * 1000:.0f} ms per image; load average at the end {load:.1f}; "
          f"{os.cpu_count()} CPUs)")
    ok = len(manifest) == 725 and seconds < 60
    print("bar (725 images in < 60 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
