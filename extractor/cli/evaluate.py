"""`extractor eval` scores predictions (or a fresh extraction) against gold cards and writes
run.json, samples.jsonl, report.md and report.html; `extractor calibrate` measures a scorer
on labelled phrase pairs and records its threshold."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from extractor.backends.config import resolve
from extractor.backends.profile import Mode
from extractor.batch.inputs import Job
from extractor.batch.run import Batch, BatchOptions
from extractor.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    Commands,
    add_debug_flag,
    add_endpoint_flags,
)
from extractor.core.errors import ConfigError
from extractor.core.record import FailureRecord
from extractor.evaluate.calibrate import calibrate, load_pairs
from extractor.evaluate.compare import DEFAULT_TOLERANCE, Comparison, compare
from extractor.evaluate.dataset import GoldDoc, Prediction, load_gold, load_predictions
from extractor.evaluate.judge import MIN_SAMPLES, Judge
from extractor.evaluate.metrics import FIELDS
from extractor.evaluate.report import write_reports
from extractor.evaluate.run import EvalRun, score_all
from extractor.evaluate.similarity import SCORERS, Similarity, make_similarity
from extractor.pipeline.load import load_article


def add_parsers(commands: Commands) -> None:
    parser = commands.add_parser(
        "eval",
        help="score cards against gold cards and write reports",
        description="Score predicted cards against gold cards. Predictions are a folder of "
        "seed-format files named like the gold ones, a results .jsonl, or --extract to run a "
        "model over the gold articles first.",
    )
    parser.add_argument("--gold", type=Path, required=True, help="gold card folder or manifest")
    parser.add_argument("--articles", type=Path, help="articles by gold file stem (folder gold)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", type=Path, help="prediction folder or results .jsonl")
    source.add_argument(
        "--extract", action="store_true", help="extract the gold articles with the model first"
    )
    parser.add_argument("--out", type=Path, required=True, help="folder for the run's files")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="articles in flight with --extract (1)"
    )
    parser.add_argument("--baseline", type=Path, help="an earlier --out folder to compare with")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"drop that fails the run when it is also significant (default {DEFAULT_TOLERANCE})",
    )
    _add_scorer_flags(parser)
    parser.add_argument("--judge", action="store_true", help="also ask an LLM judge (off)")
    parser.add_argument("--judge-model", help="judge model (default: the extraction endpoint's)")
    parser.add_argument("--judge-base-url", help="judge endpoint (default: as for extraction)")
    parser.add_argument("--judge-samples", type=int, default=MIN_SAMPLES)
    add_endpoint_flags(parser)
    add_debug_flag(parser)
    parser.set_defaults(run=run)

    calibration = commands.add_parser(
        "calibrate", help="measure a scorer on labelled phrase pairs and pick its threshold"
    )
    calibration.add_argument("pairs", type=Path, help="JSONL of {a, b, label}")
    calibration.add_argument("-o", "--output", type=Path, help="default: <backend>.json beside")
    _add_scorer_flags(calibration)
    add_debug_flag(calibration)
    calibration.set_defaults(run=run_calibration)


def _add_scorer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scorer",
        choices=SCORERS,
        default="auto",
        help="similarity backend (default: MiniLM when installed, else lexical)",
    )
    parser.add_argument("--threshold", type=float, help="match threshold (default: calibrated)")
    parser.add_argument("--embeddings-model", help="model for --scorer endpoint")
    parser.add_argument("--embeddings-base-url", help="OpenAI-compatible /v1 URL for embeddings")


def _similarity(args: argparse.Namespace) -> Similarity:
    if args.threshold is not None and not 0 < args.threshold <= 1:
        raise ConfigError("--threshold must be in (0, 1]")
    endpoint = None
    if args.scorer == "endpoint":
        if not args.embeddings_base_url or not args.embeddings_model:
            raise ConfigError(
                "--scorer endpoint needs --embeddings-base-url and --embeddings-model"
            )
        endpoint = resolve(model=args.embeddings_model, base_url=args.embeddings_base_url)
    return make_similarity(args.scorer, args.threshold, endpoint)


def run(args: argparse.Namespace) -> int:
    if args.tolerance < 0:
        raise ConfigError("--tolerance must be 0 or more")
    if args.concurrency < 1:
        raise ConfigError("--concurrency must be 1 or more")
    gold = load_gold(args.gold, args.articles)
    similarity = _similarity(args)
    config: dict[str, Any] = {"gold": str(args.gold), "scorer": args.scorer}
    if args.extract:
        predictions = _extract(args, gold, config)
    else:
        config["pred"] = str(args.pred)
        predictions = load_predictions(args.pred, [doc.id for doc in gold])
    evaluation = score_all(gold, predictions, similarity, config)
    if args.judge:
        _judge(args, evaluation, predictions)
    summary = evaluation.write(args.out)
    samples = [doc.sample() for doc in evaluation.docs]
    comparison = compare(samples, args.baseline, args.tolerance) if args.baseline else None
    if comparison is not None:
        summary["comparison"] = comparison.as_dict()
        (args.out / "run.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_reports(args.out, summary, samples, summary.get("comparison"))
    _print_summary(summary, args.out)
    if comparison is not None:
        _print_comparison(comparison)
        if comparison.regressions:
            print(f"regression beyond {args.tolerance}: {', '.join(comparison.regressions)}")
            return EXIT_FAILED
    return EXIT_OK


def _extract(
    args: argparse.Namespace, gold: list[GoldDoc], config: dict[str, Any]
) -> dict[str, Prediction]:
    """Extract the gold articles as a batch run into `out/results.jsonl`, the same records
    and writer as `extractor batch`; an interrupted eval resumes where it stopped. Cards also
    go to `out/predictions/<id>.txt` in the seed format, to read beside the gold ones."""
    results = args.out / "results.jsonl"
    jobs = [Job(id=doc.id, source=str(doc.article)) for doc in gold if doc.article is not None]
    batch = Batch(
        jobs,
        results,
        BatchOptions(
            concurrency=args.concurrency,
            use_cache=False,
            closest=0,
            extract_near_duplicates=True,  # every gold article is scored on its own card
        ),
        model=args.model,
        base_url=args.base_url,
        mode=args.mode,
        strategy=args.strategy,
        ungrounded=args.ungrounded,
    )
    keys: dict[str, str] = {}
    started = time.perf_counter()

    async def drive() -> None:
        async for outcome in batch.outcomes():
            keys[outcome.id] = outcome.key
            seconds = time.perf_counter() - started
            status = outcome.record.error if isinstance(outcome.record, FailureRecord) else "ok"
            print(
                f"[{len(keys)}/{len(jobs)}] {outcome.id}: {outcome.status}"
                f"{'' if status == 'ok' else ': ' + status} ({seconds:.1f} s)",
                file=sys.stderr,
            )

    asyncio.run(drive())
    profile = batch.extractor.profile
    config.update(
        extract=True,
        model=profile.endpoint.model,
        base_url=profile.endpoint.base_url,
        mode=profile.mode.value,
        strategy=profile.strategy.value,
    )
    found = load_predictions(results, [doc.id for doc in gold], keys)
    folder = args.out / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    for doc in gold:
        prediction = found.get(doc.id)
        if doc.article is None:
            found[doc.id] = Prediction(None, "the gold document has no article to extract")
        elif prediction is not None and prediction.card is not None:
            (folder / f"{doc.id}.txt").write_text(prediction.card.to_markdown(), encoding="utf-8")
    return found


def _judge(
    args: argparse.Namespace, evaluation: EvalRun, predictions: dict[str, Prediction]
) -> None:
    endpoint = resolve(
        model=args.judge_model or args.model, base_url=args.judge_base_url or args.base_url
    )
    judge = Judge(endpoint, samples=args.judge_samples, json_object=args.mode != Mode.JSON)
    try:
        for doc in evaluation.docs:
            card = predictions.get(doc.gold.id, Prediction(None)).card
            if card is None:
                continue
            if doc.gold.article is None:
                doc.judge = {"model": endpoint.model, "score": None, "error": "no article"}
                continue
            doc.judge = judge.judge(load_article(doc.gold.article).text, card)
    finally:
        judge.close()
    evaluation.config.update(judge_model=endpoint.model, judge_samples=judge.samples)


def _print_summary(summary: dict[str, Any], out: Path) -> None:
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    ci = summary["aggregate_ci"]
    print(
        f"{summary['documents']} documents ({summary['scored']} scored), "
        f"scorer {summary['metric_backend']} at threshold {summary['threshold']}"
    )
    print(f"{'aggregate':<10} {ci['mean']:.3f}  [{ci['low']:.3f}, {ci['high']:.3f}]")
    for name in FIELDS:
        field = summary["fields_ci"][name]
        print(f"{name:<10} {field['mean']:.3f}  [{field['low']:.3f}, {field['high']:.3f}]")
    if summary.get("judge"):
        print(f"{'judge':<10} {summary['judge']['mean']:.3f}")
    for name, ci in summary["reference_free_ci"].items():
        if ci is not None:
            print(
                f"{name} {ci['mean']:.3f}  [{ci['low']:.3f}, {ci['high']:.3f}] "
                f"over {ci['documents']} documents (reference-free)"
            )
    print(f"report: {out / 'report.html'}")


def _print_comparison(comparison: Comparison) -> None:
    print(f"against {comparison.baseline} (paired bootstrap, 95%):")
    for name, diff in comparison.fields.items():
        print(
            f"{name:<10} {diff.delta:+.3f}  [{diff.low:+.3f}, {diff.high:+.3f}]  "
            f"p={diff.p_value:.3f}  {diff.verdict}"
        )
    for name, diff in comparison.reference_free.items():
        print(
            f"{name} {diff.delta:+.3f}  [{diff.low:+.3f}, {diff.high:+.3f}]  "
            f"p={diff.p_value:.3f}  {diff.verdict} (reference-free, not a gate)"
        )
    for doc in comparison.documents:
        changed = {k: v for k, v in doc["fields"].items() if v}
        if changed:
            detail = ", ".join(f"{k} {v:+.3f}" for k, v in changed.items())
            print(f"  {doc['id']}: {doc['aggregate']:+.3f} ({detail})")
    for doc_id in comparison.only_baseline:
        print(f"  {doc_id}: only in the baseline")


def run_calibration(args: argparse.Namespace) -> int:
    pairs = load_pairs(args.pairs)
    result = calibrate(pairs, _similarity(args))
    output = args.output or args.pairs.parent / f"{result['backend'].replace(':', '-')}.json"
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(
        f"{result['backend']}: AUC {result['auc']} on {result['pairs']} pairs, threshold "
        f"{result['threshold']} (TPR {result['true_positive_rate']}, "
        f"FPR {result['false_positive_rate']}); written to {output}"
    )
    return EXIT_OK
