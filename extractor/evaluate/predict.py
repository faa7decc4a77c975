"""Extract-then-score: run a model config over the gold articles and keep what it wrote, so
that a score can always be traced back to the exact cards behind it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from extractor.core.errors import ExtractionError, ExtractorError
from extractor.evaluate.dataset import GoldDoc, Prediction
from extractor.pipeline.extract import Extractor
from extractor.pipeline.load import load_article


def extract_gold(gold: list[GoldDoc], out: Path, extractor: Extractor) -> dict[str, Prediction]:
    """Writes predictions/<id>.txt and results.jsonl in `out`; a failed article is recorded
    with its reason and scores zero, the others go on."""
    folder = out / "predictions"
    folder.mkdir(parents=True, exist_ok=True)
    found: dict[str, Prediction] = {}
    with (out / "results.jsonl").open("w", encoding="utf-8") as results:
        for number, doc in enumerate(gold, start=1):
            started = time.perf_counter()
            record: dict[str, object] = {"id": doc.id, "model": extractor.endpoint.model}
            if doc.article is None:
                found[doc.id] = Prediction(None, "the gold document has no article to extract")
                continue
            try:
                result = extractor.extract(load_article(doc.article))
            except ExtractorError as err:
                reason = f"{type(err).__name__}: {err}"
                attempts = len(err.attempts) if isinstance(err, ExtractionError) else 0
                record.update(error=reason, attempts=attempts, card=None)
                found[doc.id] = Prediction(None, reason, extractor.endpoint.model)
            else:
                record.update(result.as_dict())
                (folder / f"{doc.id}.txt").write_text(result.card.to_markdown(), encoding="utf-8")
                found[doc.id] = Prediction(result.card, None, result.model, result.prompt_version)
            seconds = time.perf_counter() - started
            results.write(json.dumps(record, ensure_ascii=False) + "\n")
            results.flush()
            status = found[doc.id].error or "ok"
            print(f"[{number}/{len(gold)}] {doc.id}: {status} ({seconds:.1f} s)", file=sys.stderr)
    return found
