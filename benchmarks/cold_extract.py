"""Cold `extractor extract` with the embedded model: one new process per article, as a user
running the quick start pays it (interpreter start, model load, every request), wall clock.

    python benchmarks/cold_extract.py [ARTICLE ...]   # default: the gold and held-out articles
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXTRACTOR = Path(sys.executable).with_name("extractor")


def cold(article: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LLM_"))}
    started = time.perf_counter()
    done = subprocess.run(
        [str(EXTRACTOR), "extract", str(article), "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - started
    result = json.loads(done.stdout) if done.returncode == 0 else {}
    return {
        "article": article.name,
        "seconds": round(seconds, 1),
        "exit": done.returncode,
        "requests": result.get("usage", {}).get("requests"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("articles", nargs="*", type=Path)
    args = parser.parse_args()
    articles = args.articles or [
        *sorted((ROOT / "evals" / "articles").glob("*.txt")),
        *sorted((ROOT / "evals" / "heldout").glob("*.txt")),
    ]
    runs = [cold(path) for path in articles]
    for run in runs:
        print(json.dumps(run))
    seconds = [float(str(run["seconds"])) for run in runs]
    print(
        f"{len(runs)} articles, cold: mean {statistics.mean(seconds):.1f} s, "
        f"max {max(seconds):.1f} s, failed {sum(run['exit'] != 0 for run in runs)}"
    )


if __name__ == "__main__":
    main()
