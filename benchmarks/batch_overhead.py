"""How much does `extractor batch` cost over a bare AsyncOpenAI script sending the same calls?

Both run as whole processes against `batch_fakeserver.py` (its own process, on loopback), on
the same distinct articles, at the same concurrency, with the same request body (captured
from the extractor, see `batch_common.capture_template`). Ours runs with --no-cache and
--closest 0. Each repeat runs both, in alternating order, and the ratio bare / ours is taken
within the repeat. Goal: bare / ours >= 0.9 of whole-process wall time.

    python benchmarks/batch_overhead.py [--quick] [--articles N] [--repeats N]
        [--concurrency N] [--latencies 0,50]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from batch_common import (
    Server,
    Timed,
    bare,
    capture_template,
    check,
    environment,
    make_manifest,
    ours,
    scratch,
    spread,
    table,
    timed,
)


def run_side(
    side: str, out: Path, articles: Path, count: int, server: Server, template: Path, c: int
) -> Timed:
    """One whole-process run of `side` ("ours" or "bare") into a fresh output file."""
    for stale in out.parent.glob(out.stem + ".*"):
        stale.unlink()
    if side == "ours":
        command = ours(articles, out, server, c)
    else:
        command = bare(articles, template, out, server, c)
    run = timed(command, environment(out.parent), server)
    check(run, side, {"done": count})
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 articles, one repeat")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latencies", default="0,50", help="server latencies in ms")
    args = parser.parse_args()
    if args.quick:
        args.articles, args.repeats = 200, 1
    latencies = [float(x) for x in args.latencies.split(",")]
    n, c = args.articles, args.concurrency

    with scratch() as folder:
        template = capture_template(folder)
        manifest = make_manifest(folder / "articles.jsonl", n, seed=1)
        warm = make_manifest(folder / "warm.jsonl", 50, seed=2)
        runs: dict[float, dict[str, list[Timed]]] = {}
        print(f"{n} articles, concurrency {c}, {args.repeats} repeats\n")
        print("| latency ms | repeat | side | wall s | phase s | CPU s | server CPU s |")
        print("|---|---|---|---|---|---|---|")
        for latency in latencies:
            sides: dict[str, list[Timed]] = {"ours": [], "bare": []}
            runs[latency] = sides
            with Server(latency) as server:
                for side in sides:  # warm the page cache and the server, not counted
                    run_side(side, folder / f"warm-{side}.jsonl", warm, 50, server, template, c)
                for repeat in range(args.repeats):
                    order = ["ours", "bare"] if repeat % 2 == 0 else ["bare", "ours"]
                    for side in order:
                        out = folder / f"{side}-{repeat}.jsonl"
                        run = run_side(side, out, manifest, n, server, template, c)
                        sides[side].append(run)
                        print(
                            f"| {latency:g} | {repeat + 1} | {side} | {run.wall:.2f} "
                            f"| {run.phase:.2f} | {run.cpu:.2f} | {run.server_cpu:.2f} |",
                            flush=True,
                        )
        print()
        rows = []
        for latency, sides in runs.items():
            ours_runs, bare_runs = sides["ours"], sides["bare"]
            wall = [b.wall / o.wall for o, b in zip(ours_runs, bare_runs, strict=True)]
            phase = [
                (b.phase or 0) / (o.phase or 1) for o, b in zip(ours_runs, bare_runs, strict=True)
            ]
            cpu = [b.cpu / o.cpu for o, b in zip(ours_runs, bare_runs, strict=True)]
            server_share = max(r.server_cpu / r.wall for r in ours_runs + bare_runs)
            rows.append(
                [
                    f"{latency:g}",
                    spread([r.wall for r in ours_runs]),
                    spread([r.wall for r in bare_runs]),
                    f"**{statistics.median(wall):.2f}** (min {min(wall):.2f})",
                    spread([r.phase or 0 for r in ours_runs]),
                    spread([r.phase or 0 for r in bare_runs]),
                    f"{statistics.median(phase):.2f} (min {min(phase):.2f})",
                    f"{statistics.median(cpu):.2f}",
                    f"{server_share:.0%}",
                ]
            )
        table(
            [
                "latency ms",
                "ours wall s",
                "bare wall s",
                "bare/ours wall",
                "ours phase s",
                "bare phase s",
                "bare/ours phase",
                "bare/ours CPU",
                "server CPU (max % of wall)",
            ],
            rows,
        )
        print("wall: fork to exit; phase: the run after imports and setup, as each reports it;")
        print("values: median (min to max) over repeats; ratios taken within each repeat.")


if __name__ == "__main__":
    main()
