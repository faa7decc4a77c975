"""Does the peak memory of `extractor batch` stay flat as the number of articles grows?

1,000 and 10,000 distinct articles (fake endpoint at 0 ms, concurrency 32, --no-cache,
--closest 0), in alternating order. Peak RSS is the kernel's maximum resident set size of
the process (`wait4`); RSS is also sampled every 0.25 s to show how it grows during the run.
The bare AsyncOpenAI script (`batch_bare.py`) runs the same inputs, as a reference for what
the client stack alone keeps, and so does `extractor batch --extract-near-duplicates`
("ours, no near-dup"), which never feeds `NearDuplicates`, to show what that index keeps.
With `--closest`, also `extractor batch --closest 5` ("ours, Closest"): the MiniLM session,
the vectors of every card (1.5 KB each) and the link pass after the run.
Flat means 10k is not ~10 times 1k; the growth per 1,000 articles tells what 100k would
cost.

    python benchmarks/batch_memory.py [--quick] [--repeats N] [--small N] [--large N] [--closest]
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
    table,
    timed,
)

SIDES = ("ours", "bare", "ours, no near-dup")


def run_side(
    side: str, out: Path, articles: Path, count: int, server: Server, template: Path
) -> Timed:
    for stale in out.parent.glob(out.stem + ".*"):
        stale.unlink()
    if side == "ours":
        command = ours(articles, out, server, 32)
    elif side == "ours, Closest":
        command = ours(articles, out, server, 32, closest=5)
    elif side == "ours, no near-dup":
        command = [*ours(articles, out, server, 32), "--extract-near-duplicates"]
    else:
        command = bare(articles, template, out, server, 32)
    run = timed(command, environment(out.parent), server, poll=0.25)
    check(run, f"{side} on {count}", {"done": count})
    out.unlink()  # keep the scratch folder small
    return run


def trajectory(run: Timed) -> str:
    """RSS in MB at a quarter, half, three quarters and the end of the run."""
    if not run.rss_samples:
        return ""
    end = run.rss_samples[-1][0]
    points = []
    for share in (0.25, 0.5, 0.75, 1.0):
        rss = next(mb for t, mb in run.rss_samples if t >= share * end)
        points.append(f"{rss:.0f}")
    return " / ".join(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 and 5000 articles, once")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--closest", action="store_true", help="also a run with Closest links")
    args = parser.parse_args()
    sides = (*SIDES, "ours, Closest") if args.closest else SIDES
    if args.quick:
        args.small, args.large, args.repeats = 500, 5000, 1
    sizes = (args.small, args.large)

    with scratch() as folder:
        template = capture_template(folder)
        large = make_manifest(folder / "large.jsonl", args.large, seed=5)
        lines = large.read_text(encoding="utf-8").splitlines(keepends=True)
        small = folder / "small.jsonl"
        small.write_text("".join(lines[: args.small]), encoding="utf-8")
        del lines
        inputs = {args.small: small, args.large: large}
        runs: dict[tuple[str, int], list[Timed]] = {}
        print(f"concurrency 32, 0 ms, {args.repeats} repeats\n")
        print("| repeat | side | articles | wall s | peak RSS MB | RSS at 1/4, 1/2, 3/4, end |")
        print("|---|---|---|---|---|---|")
        with Server(0) as server:
            for repeat in range(args.repeats):
                order = [
                    (side, size)
                    for size in (sizes if repeat % 2 == 0 else sizes[::-1])
                    for side in (sides if repeat % 2 == 0 else sides[::-1])
                ]
                for side, size in order:
                    out = folder / f"{side}-{size}-{repeat}.jsonl"
                    run = run_side(side, out, inputs[size], size, server, template)
                    runs.setdefault((side, size), []).append(run)
                    print(
                        f"| {repeat + 1} | {side} | {size} | {run.wall:.1f} "
                        f"| {run.max_rss_mb:.1f} | {trajectory(run)} |",
                        flush=True,
                    )
        print()
        rows = []
        for side in sides:
            peak = {
                size: statistics.median(r.max_rss_mb for r in runs[(side, size)]) for size in sizes
            }
            growth = (peak[args.large] - peak[args.small]) / (args.large - args.small) * 1000
            rows.append(
                [
                    side,
                    f"{peak[args.small]:.1f}",
                    f"{peak[args.large]:.1f}",
                    f"**{peak[args.large] / peak[args.small]:.2f}**",
                    f"{growth:.2f}",
                    f"{peak[args.large] + growth * (100_000 - args.large) / 1000:.0f}",
                ]
            )
        table(
            [
                "side",
                f"peak RSS MB, {args.small:,}",
                f"peak RSS MB, {args.large:,}",
                f"ratio {args.large:,} / {args.small:,}",
                "MB per 1,000 more articles",
                "100k articles, extrapolated MB",
            ],
            rows,
        )


if __name__ == "__main__":
    main()
