"""How much does `extractor batch` cost over a bare AsyncOpenAI script sending the same calls,
and what do Closest links add?

All run as whole processes against `batch_fakeserver.py` (its own process, on loopback), on
the same distinct articles, at the same concurrency, with the same request body (captured
from the extractor, see `batch_common.capture_template`). Four sides: `ours` (--no-cache,
--closest 0, the default worker processes: 2 from concurrency 32 on a 2-core machine),
`single` (the same with --processes 0: everything on the run's one event loop), `closest`
(ours with the default --closest 5: cards embedded with MiniLM during the run, linked after
it) and `bare`. Each repeat runs all four in a rotating order,
and ratios are taken within the repeat. Goals: bare / ours >= 0.9 of whole-process wall
time; closest / ours close to 1.

    python benchmarks/batch_overhead.py [--quick] [--articles N] [--repeats N]
        [--concurrency 32,64] [--latencies 0,50]
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

SIDES = ("ours", "single", "closest", "bare")


def run_side(
    side: str, out: Path, articles: Path, count: int, server: Server, template: Path, c: int
) -> Timed:
    """One whole-process run of `side` into a fresh output file."""
    for stale in out.parent.glob(out.stem + ".*"):
        stale.unlink()
    if side == "bare":
        command = bare(articles, template, out, server, c)
    else:
        command = ours(articles, out, server, c, closest=5 if side == "closest" else 0)
        command += ["--processes", "0"] if side == "single" else []
    run = timed(command, environment(out.parent), server)
    check(run, side, {"done": count}, concurrency=c)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 articles, one repeat")
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--concurrency", default="32,64", help="levels, comma-separated")
    parser.add_argument("--latencies", default="0,50", help="server latencies in ms")
    args = parser.parse_args()
    if args.quick:
        args.articles, args.repeats = 200, 1
    latencies = [float(x) for x in args.latencies.split(",")]
    levels = [int(x) for x in args.concurrency.split(",")]
    n = args.articles

    with scratch() as folder:
        template = capture_template(folder)
        manifest = make_manifest(folder / "articles.jsonl", n, seed=1)
        warm = make_manifest(folder / "warm.jsonl", 50, seed=2)
        runs: dict[tuple[float, int], dict[str, list[Timed]]] = {}
        print(f"{n} articles, {args.repeats} repeats\n")
        print("| latency ms | concurrency | repeat | side | wall s | phase s | CPU s | peak MB |")
        print("|---|---|---|---|---|---|---|---|")
        for latency in latencies:
            with Server(latency) as server:
                for side in SIDES:  # warm the page cache and the server, not counted
                    out = folder / f"warm-{side}.jsonl"
                    run_side(side, out, warm, 50, server, template, levels[0])
                for repeat in range(args.repeats):
                    for c in levels:
                        sides = runs.setdefault((latency, c), {side: [] for side in SIDES})
                        shift = repeat % len(SIDES)
                        for side in SIDES[shift:] + SIDES[:shift]:
                            out = folder / f"{side}-{c}-{repeat}.jsonl"
                            run = run_side(side, out, manifest, n, server, template, c)
                            sides[side].append(run)
                            print(
                                f"| {latency:g} | {c} | {repeat + 1} | {side} | {run.wall:.2f} "
                                f"| {run.phase:.2f} | {run.cpu:.2f} | {run.max_rss_mb:.0f} |",
                                flush=True,
                            )
        print()
        rows = []
        for (latency, c), sides in runs.items():
            mine, linked, base = sides["ours"], sides["closest"], sides["bare"]
            wall = [b.wall / o.wall for o, b in zip(mine, base, strict=True)]
            alone = [b.wall / o.wall for o, b in zip(sides["single"], base, strict=True)]
            with_links = [b.wall / o.wall for o, b in zip(linked, base, strict=True)]
            cost = [lk.wall / o.wall for o, lk in zip(mine, linked, strict=True)]
            cpu = [b.cpu / o.cpu for o, b in zip(mine, base, strict=True)]
            rows.append(
                [
                    f"{latency:g}",
                    c,
                    spread([r.wall for r in mine]),
                    spread([r.wall for r in linked]),
                    spread([r.wall for r in base]),
                    f"**{statistics.median(wall):.2f}** (min {min(wall):.2f})",
                    f"{statistics.median(alone):.2f}",
                    f"{statistics.median(with_links):.2f}",
                    f"{statistics.median(cost):.2f}",
                    f"{statistics.median(cpu):.2f}",
                    f"{statistics.median(r.max_rss_mb for r in mine):.0f} / "
                    f"{statistics.median(r.max_rss_mb for r in linked):.0f} / "
                    f"{statistics.median(r.max_rss_mb for r in base):.0f}",
                ]
            )
        table(
            [
                "latency ms",
                "concurrency",
                "ours wall s",
                "closest wall s",
                "bare wall s",
                "bare / ours, wall",
                "bare / single, wall",
                "bare / closest, wall",
                "closest / ours, wall",
                "bare / ours, CPU",
                "peak MB ours / closest / bare",
            ],
            rows,
        )
        print("wall: fork to exit; values: median (min to max) over repeats; ratios taken within")
        print("each repeat.")


if __name__ == "__main__":
    main()
