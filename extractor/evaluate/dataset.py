"""Gold cards and predictions, paired by document id.

Gold comes from a folder of seed-format cards (id = file stem) or from a manifest JSONL whose
lines name each card and its article (paths relative to the manifest). Predictions come from
a folder of seed-format files with the same stems, or from a results file (as `extractor
batch` and `extractor eval --extract` both write it) with the errors file beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from extractor.core.card import SignalCard
from extractor.core.errors import CardFormatError, InputError
from extractor.store.results import errors_path, read_failures, read_results

CARD_SUFFIXES = (".txt", ".md")


@dataclass
class GoldDoc:
    id: str
    card: SignalCard
    article: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    card: SignalCard | None
    error: str | None = None
    model: str | None = None
    prompt_version: str | None = None
    warnings: list[str] = field(default_factory=list)
    article_text: str | None = None  # the text the model was sent, when the results hold it


def _read_card(path: Path) -> SignalCard:
    try:
        return SignalCard.from_markdown(path.read_text(encoding="utf-8"))
    except (CardFormatError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a seed-format card: {err}") from err


def load_gold(path: Path, articles: Path | None = None) -> list[GoldDoc]:
    if path.is_file():
        return _from_manifest(path)
    if not path.is_dir():
        raise InputError(f"gold {path} is neither a folder of cards nor a manifest .jsonl")
    docs = []
    for card_path in sorted(p for p in path.iterdir() if p.suffix in CARD_SUFFIXES):
        article = None
        if articles is not None:
            found = [articles / f"{card_path.stem}{s}" for s in (".txt", ".md", ".html")]
            article = next((a for a in found if a.is_file()), None)
        docs.append(GoldDoc(card_path.stem, _read_card(card_path), article))
    if not docs:
        raise InputError(f"no .txt or .md gold cards in {path}")
    return docs


def _from_manifest(path: Path) -> list[GoldDoc]:
    docs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            gold = path.parent / entry["gold"]
            article = path.parent / entry["article"] if entry.get("article") else None
            doc_id = str(entry.get("id") or gold.stem)
        except (json.JSONDecodeError, KeyError, TypeError) as err:
            raise InputError(f"{path}:{number}: bad manifest line: {err}") from err
        meta = {k: v for k, v in entry.items() if k not in ("id", "gold", "article")}
        docs.append(GoldDoc(doc_id, _read_card(gold), article, meta))
    if not docs:
        raise InputError(f"manifest {path} lists no gold cards")
    return docs


def load_predictions(
    path: Path, ids: list[str], keys: dict[str, str] | None = None
) -> dict[str, Prediction]:
    """Predictions by document id. A results file is read with the errors file beside it,
    which says why an article has no card; `keys` keeps only the records of one run (a
    results file that several runs appended to holds older cards too)."""
    if path.is_dir():
        return {doc_id: _from_folder(path, doc_id) for doc_id in ids}
    if path.is_file():
        return _from_results(path, keys)
    raise InputError(f"predictions {path} are neither a folder nor a results .jsonl file")


def _from_folder(folder: Path, doc_id: str) -> Prediction:
    for suffix in CARD_SUFFIXES:
        candidate = folder / f"{doc_id}{suffix}"
        if candidate.is_file():
            try:
                return Prediction(_read_card(candidate))
            except InputError as err:
                return Prediction(None, str(err))
    return Prediction(None, "no prediction file")


def _from_results(path: Path, keys: dict[str, str] | None) -> dict[str, Prediction]:
    def wanted(doc_id: str, key: str) -> bool:
        return keys is None or keys.get(doc_id) == key

    found: dict[str, Prediction] = {}
    for failure in read_failures(errors_path(path)):
        if wanted(failure.id, failure.key):
            found[failure.id] = Prediction(None, f"{failure.kind}: {failure.error}")
    for record in read_results(path):
        if wanted(record.id, record.key):
            found[record.id] = Prediction(
                record.card,
                None,
                record.model,
                record.prompt_version,
                record.warnings,
                record.article.text or None,
            )
    return found
