"""How long does a rerun of `extractor batch` take when nothing needs the endpoint?

Per repeat, on 1000 distinct articles and a fresh cache file:
1. fill: a normal run (fake endpoint, 0 ms) fills the cache; not the measure.
2. cached: a NEW output file and the same cache: every article should come out "cached".
3. resumed: the SAME output file as run 2: every article should be "already done".
Runs 2 and 3 are timed as whole processes and must send no request. `extractor --help` is
timed beside them, as the floor any command pays to start (interpreter and imports).
Goal: the cached rerun under 3 s.

    python benchmarks/batch_cached.py [--quick] [--articles N] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics

from batch_common import (
    PY,
    Server,
    Timed,
    check,
    environment,
    make_manifest,
    ours,
    scratch,
    spread,
    table,
    timed,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 articles, one repeat")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if args.quick:
        args.articles, args.repeats = 200, 1
    n, c = args.articles, args.concurrency

    with scratch() as folder:
        env = environment(folder)
        manifest = make_manifest(folder / "articles.jsonl", n, seed=4)
        runs: dict[str, list[Timed]] = {"cached": [], "resumed": [], "startup": []}
        print(f"{n} articles, concurrency {c}, {args.repeats} repeats\n")
        print("| repeat | run | wall s | phase s | CPU s | requests sent | counts |")
        print("|---|---|---|---|---|---|---|")
        with Server(0) as server:
            for repeat in range(args.repeats):
                cache = folder / f"cache-{repeat}.sqlite"
                fill = timed(ours(manifest, folder / f"fill-{repeat}.jsonl", server, c, cache),
                             env, server)  # fmt: skip
                check(fill, "fill", {"done": n})
                output = folder / f"rerun-{repeat}.jsonl"
                steps = [
                    ("cached", ours(manifest, output, server, c, cache), {"cached": n}),
                    ("resumed", ours(manifest, output, server, c, cache), {"skipped": n}),
                    ("startup", [PY, "-m", "extractor.cli", "--help"], {}),
                ]
                for name, command, expected in steps:
                    run = timed(command, env, server)
                    if expected:
                        check(run, name, {"done": 0, "failed": 0, **expected})
                        if run.server_requests:
                            raise RuntimeError(f"{name}: sent {run.server_requests} requests")
                    runs[name].append(run)
                    print(
                        f"| {repeat + 1} | {name} | {run.wall:.2f} | {run.phase or 0:.1f} "
                        f"| {run.cpu:.2f} | {run.server_requests} | {run.counts} |",
                        flush=True,
                    )
        print()
        startup = statistics.median(r.wall for r in runs["startup"])
        rows = []
        for name in ("cached", "resumed", "startup"):
            walls = [r.wall for r in runs[name]]
            rows.append(
                [
                    name,
                    spread(walls),
                    f"{max(walls):.2f}",
                    spread([r.phase or 0 for r in runs[name]], 1) if name != "startup" else "",
                    f"{statistics.median(walls) - startup:.2f}" if name != "startup" else "",
                    "yes" if name == "startup" or max(walls) < 3 else "NO",
                ]
            )
        table(
            [
                "run",
                "wall s, median (min to max)",
                "worst wall s",
                "phase s",
                "wall beyond startup s",
                "under 3 s",
            ],
            rows,
        )


if __name__ == "__main__":
    main()
