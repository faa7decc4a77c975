"""Does `extractor batch` throughput grow with --concurrency up to the endpoint's limit?

The fake endpoint (`batch_fakeserver.py`, its own process) answers after 200 ms, so the ideal
throughput at concurrency c is c / 0.2 articles per second. Each level runs enough distinct
articles for several seconds of extraction; throughput is counted over the extraction phase
the command reports (after imports and setup) and over the whole process. The bare
AsyncOpenAI script (`batch_bare.py`) runs the same levels, in alternating order, as a
reference for what the client stack alone reaches. Goals: ours >= 0.9 of ideal up to 64, and
ours >= 0.9 of bare's throughput, whole process, within each repeat.

    python benchmarks/batch_scaling.py [--quick] [--repeats N] [--latency MS]
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

# (concurrency, articles): about 30 rounds of 200 ms each, 6 s of ideal extraction.
LEVELS = [(1, 25), (8, 240), (32, 960), (64, 1920)]
QUICK = [(1, 10), (8, 80), (32, 320), (64, 640)]


def run_side(
    side: str, out: Path, articles: Path, count: int, server: Server, template: Path, c: int
) -> Timed:
    for stale in out.parent.glob(out.stem + ".*"):
        stale.unlink()
    if side == "ours":
        command = ours(articles, out, server, c)
    else:
        command = bare(articles, template, out, server, c)
    run = timed(command, environment(out.parent), server)
    check(run, f"{side} at concurrency {c}", {"done": count}, concurrency=c)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer articles, one repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", type=float, default=200.0, help="server latency in ms")
    args = parser.parse_args()
    levels = QUICK if args.quick else LEVELS
    repeats = 1 if args.quick else args.repeats
    latency = args.latency / 1000

    with scratch() as folder:
        template = capture_template(folder)
        manifest = make_manifest(folder / "articles.jsonl", max(n for _, n in levels), seed=3)
        lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
        inputs = {}
        for c, n in levels:
            inputs[c] = folder / f"articles-{n}.jsonl"
            inputs[c].write_text("".join(lines[:n]), encoding="utf-8")
        warm = folder / "warm.jsonl"
        warm.write_text("".join(lines[:40]), encoding="utf-8")
        runs: dict[tuple[str, int], list[Timed]] = {}
        print(f"latency {args.latency:g} ms, {repeats} repeats\n")
        print("| repeat | concurrency | side | articles | wall s | phase s | CPU s |")
        print("|---|---|---|---|---|---|---|")
        with Server(args.latency) as server:
            for side in ("ours", "bare"):  # warm-up, not counted
                run_side(side, folder / f"warm-{side}.jsonl", warm, 40, server, template, 8)
            for repeat in range(repeats):
                for index, (c, n) in enumerate(levels):
                    order = ["ours", "bare"] if (repeat + index) % 2 == 0 else ["bare", "ours"]
                    for side in order:
                        out = folder / f"{side}-{c}-{repeat}.jsonl"
                        run = run_side(side, out, inputs[c], n, server, template, c)
                        runs.setdefault((side, c), []).append(run)
                        print(
                            f"| {repeat + 1} | {c} | {side} | {n} | {run.wall:.2f} "
                            f"| {run.phase:.2f} | {run.cpu:.2f} |",
                            flush=True,
                        )
        print()
        rows = []
        for c, n in levels:
            ideal = c / latency
            row: list[object] = [c, n, f"{ideal:g}"]
            for side in ("ours", "bare"):
                phase = [n / (r.phase or 1) / ideal for r in runs[(side, c)]]
                whole = [n / r.wall / ideal for r in runs[(side, c)]]
                row += [
                    f"{statistics.median(n / (r.phase or 1) for r in runs[(side, c)]):.1f}",
                    spread(phase),
                    spread(whole),
                ]
            pairs = zip(runs[("ours", c)], runs[("bare", c)], strict=True)
            versus = [b.wall / o.wall for o, b in pairs]  # same articles: throughput ratio
            row.append(f"**{statistics.median(versus):.2f}** (min {min(versus):.2f})")
            busy = [r.cpu / r.wall for r in runs[("ours", c)]]
            row.append(f"{statistics.median(busy):.0%}")
            rows.append(row)
        table(
            [
                "concurrency",
                "articles",
                "ideal /s",
                "ours /s (phase)",
                "ours / ideal (phase)",
                "ours / ideal (whole process)",
                "bare /s (phase)",
                "bare / ideal (phase)",
                "bare / ideal (whole process)",
                "ours / bare (whole process)",
                "ours CPU / wall",
            ],
            rows,
        )
        print("values: median (min to max) over repeats. phase: the extraction as each command")
        print("reports it (ours rounds it to 0.1 s); whole process: fork to exit.")


if __name__ == "__main__":
    main()
