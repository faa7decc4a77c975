"""Gold cards and predictions, paired by document id.

Gold comes from a folder of seed-format cards (id = file stem) or from a manifest JSONL whose
lines name each card and its article (paths relative to the manifest). Predictions come from
a folder of seed-format files with the same stems, or from results JSONL (`id` and `card` per
line, as `extractor batch` and `extractor eval --extract` write them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from extractor.core.card import ANY_COUNT, SignalCard
from extractor.core.errors import CardFormatError, InputError

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


def load_predictions(path: Path, ids: list[str]) -> dict[str, Prediction]:
    if path.is_dir():
        return {doc_id: _from_folder(path, doc_id) for doc_id in ids}
    if path.is_file():
        return _from_results(path)
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


def _from_results(path: Path) -> dict[str, Prediction]:
    found: dict[str, Prediction] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
                doc_id = str(entry["id"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a crash; its article has no prediction
            found[doc_id] = _prediction(entry)
    return found


def _prediction(entry: dict[str, Any]) -> Prediction:
    model, version = entry.get("model"), entry.get("prompt_version")
    if entry.get("card") is None:
        return Prediction(None, str(entry.get("error") or "no card"), model, version)
    try:
        card = SignalCard.model_validate(entry["card"], context={"limits": ANY_COUNT})
    except ValidationError as err:
        return Prediction(None, f"invalid card: {err.errors()[0]['msg']}", model, version)
    return Prediction(card, None, model, version)
