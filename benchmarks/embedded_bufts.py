"""What turning off llama.cpp's extra buffer types (the AMX crash fix) costs on this CPU.

Extra buffer types repack the weights for CPU-specific kernels (AMX on recent Intel, other
repacks elsewhere). The embedded model now loads without them. Each variant runs in its own
child process (a repack crash kills only that child), on the same articles, in alternating
order, with the model load timed apart from the extractions.

    python benchmarks/embedded_bufts.py [--rounds N] [ARTICLE ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_CHILD = """
import json, sys, time
from extractor.backends import embedded
embedded.EXTRA_BUFFER_TYPES = sys.argv[1] == "on"
started = time.perf_counter()
llama = embedded._llama()
load = time.perf_counter() - started
from extractor import Extractor, load_article
extractor = Extractor()
seconds = []
for path in sys.argv[2:]:
    started = time.perf_counter()
    extractor.extract(load_article(path))
    seconds.append(time.perf_counter() - started)
print(json.dumps({"load": load, "seconds": seconds, "info": embedded.system_info()}))
"""


def run(variant: str, articles: list[str]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, variant, *articles],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        return {"crash": done.returncode, "stderr": done.stderr[-500:]}
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("articles", nargs="*")
    args = parser.parse_args()
    articles = args.articles or [str(p) for p in sorted((ROOT / "examples").glob("*.txt"))]
    seconds: dict[str, list[float]] = {"on": [], "off": []}
    loads: dict[str, list[float]] = {"on": [], "off": []}
    for round_number in range(args.rounds):
        order = ("off", "on") if round_number % 2 == 0 else ("on", "off")
        for variant in order:
            result = run(variant, articles)
            if "crash" in result:
                print(f"extra buffer types {variant}: child died ({result['crash']})")
                continue
            seconds[variant] += result["seconds"]  # type: ignore[arg-type]
            loads[variant].append(float(result["load"]))  # type: ignore[arg-type]
            print(
                f"round {round_number + 1}, extra buffer types {variant}: "
                f"{[round(s, 1) for s in result['seconds']]} s; {result['info']}"
            )  # type: ignore[union-attr]
    for variant in ("off", "on"):
        if seconds[variant]:
            print(
                f"extra buffer types {variant}: mean {statistics.mean(seconds[variant]):.2f} s "
                f"per article (max {max(seconds[variant]):.2f}), load "
                f"{statistics.mean(loads[variant]):.2f} s, {len(seconds[variant])} extractions"
            )
    if seconds["on"] and seconds["off"]:
        ratio = statistics.mean(seconds["off"]) / statistics.mean(seconds["on"])
        print(f"ratio off / on: {ratio:.3f}")


if __name__ == "__main__":
    main()
