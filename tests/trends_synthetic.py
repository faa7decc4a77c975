"""A synthetic results.jsonl with planted trends, for the trend tests and benchmarks. Not a
test module.

Eight steady topics have cards every month of 2024 (2 to 4 a month each at scale 1, drawn at
random); three new topics appear only in the last
three months and grow (2, 5 then 9 cards a month at scale 1). Each topic has its own
vocabulary (subjects, predicates and changes written for it, in news phrasing), so that a
sentence embedder sees one topic per vocabulary, and each card's rows come from one topic.
Half the signals end in a phrase shared by all topics ("despite rising costs"), and one new
topic (sodium-ion batteries) sits next to a steady one (lithium mining): all-MiniLM-L6-v2
puts their rows 0.27 apart on average against 0.52 within lithium, so a clustering that
merges too eagerly joins them.
Everything is drawn from a seeded `random.Random`, so a seed always gives the same file.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from extractor.backends.embeddings import Vectors
from extractor.core.card import ANY_COUNT, SignalCard, SignalRow
from extractor.core.record import RecordArticle, ResultRecord, reference


@dataclass(frozen=True)
class Topic:
    name: str
    theme: str
    subjects: tuple[str, ...]
    predicates: tuple[str, ...]
    changes: tuple[str, ...]
    horizon: str
    force: str


STEADY = (
    Topic(
        "heat-pumps",
        "Home Heating",
        (
            "Heat pump installations",
            "Household heat pump sales",
            "Air-source heat pump orders",
            "Heat pump retrofit grants",
            "Ground-source heat pumps",
        ),
        (
            "climb in German suburbs",
            "overtake gas boiler sales in France",
            "double across Nordic homes",
            "spread to British terraced houses",
            "win subsidies in Dutch apartment blocks",
            "surge among Polish homeowners",
        ),
        (
            "Gas boilers to electric heating",
            "Fossil heating to heat pumps",
            "Oil furnaces to heat pumps",
        ),
        "Most homes heated by electricity",
        "Decarbonising buildings",
    ),
    Topic(
        "digital-currency",
        "Digital Money",
        (
            "Central bank digital currency pilots",
            "Retail digital euro trials",
            "Digital yuan payments",
            "State-issued e-money wallets",
            "Wholesale CBDC settlements",
        ),
        (
            "expand to rural bank branches",
            "reach millions of shoppers in Shenzhen",
            "test offline payments in Nigeria",
            "go live for cross-border transfers",
            "replace cash for pension payouts",
            "draw warnings from privacy advocates",
        ),
        (
            "Cash to central bank money on phones",
            "Bank deposits to state digital currency",
            "Card networks to public payment rails",
        ),
        "Everyday payments in central bank money",
        "Monetary sovereignty",
    ),
    Topic(
        "superbugs",
        "Public Health",
        (
            "Drug-resistant infections",
            "Superbug outbreaks",
            "Antimicrobial resistance",
            "Resistant tuberculosis strains",
            "Hospital-acquired resistant bacteria",
        ),
        (
            "rise in intensive care wards",
            "spread through Indian hospitals",
            "outpace new antibiotic approvals",
            "kill more patients than road accidents",
            "force doctors to ration last-resort antibiotics",
        ),
        (
            "Curable infections to untreatable ones",
            "Routine surgery to risky surgery",
            "Broad antibiotic use to strict stewardship",
        ),
        "Common infections deadly again",
        "Antibiotic overuse",
    ),
    Topic(
        "coral-reefs",
        "Oceans",
        (
            "Coral bleaching",
            "Marine heatwaves",
            "Reef die-offs",
            "Ocean acidification",
            "Record sea surface temperatures",
        ),
        (
            "hit the Great Barrier Reef again",
            "spread across Caribbean reefs",
            "wipe out kelp forests off California",
            "threaten fisheries in the Coral Triangle",
            "break records in the Mediterranean",
        ),
        (
            "Living reefs to rubble",
            "Seasonal warming to permanent heat stress",
            "Abundant fish stocks to collapsing catches",
        ),
        "Most tropical reefs lost",
        "Ocean warming",
    ),
    Topic(
        "disinformation",
        "Elections",
        (
            "Election disinformation campaigns",
            "Fake news networks",
            "Coordinated troll accounts",
            "Political propaganda bots",
            "Foreign influence operations",
        ),
        (
            "target voters before the ballot",
            "flood social media feeds with lies",
            "spread false claims about polling stations",
            "exploit messaging apps in Brazil",
            "undermine trust in vote counts",
        ),
        (
            "Trusted media to fragmented feeds",
            "Open debate to manipulated discourse",
            "Local campaigning to foreign interference",
        ),
        "Elections contested by default",
        "Cheap online manipulation",
    ),
    Topic(
        "cycling",
        "Urban Mobility",
        (
            "Protected bike lanes",
            "City cycling networks",
            "Bike-sharing schemes",
            "Cargo bike deliveries",
            "Car-free street plans",
        ),
        (
            "expand across Paris boulevards",
            "replace parking spaces in Barcelona",
            "boost commuting in Bogota",
            "cut car traffic in Amsterdam",
            "win votes in London boroughs",
        ),
        (
            "Car-centred streets to cycling streets",
            "Parking spaces to bike lanes",
            "Van deliveries to cargo bikes",
        ),
        "Cities planned around bicycles",
        "Liveable cities",
    ),
    Topic(
        "remote-work",
        "Future of Work",
        (
            "Remote work policies",
            "Hybrid office schedules",
            "Work-from-home arrangements",
            "Return-to-office mandates",
            "Distributed teams",
        ),
        (
            "split large employers",
            "trigger staff resignations at banks",
            "empty downtown office towers",
            "become permanent at tech firms",
            "reshape commuter rail demand",
        ),
        (
            "Daily commuting to hybrid weeks",
            "Central offices to home offices",
            "Office presence to output-based management",
        ),
        "Offices as occasional meeting places",
        "Workers' demand for flexibility",
    ),
    Topic(
        "lithium",
        "Critical Minerals",
        (
            "Lithium mining projects",
            "Battery metal extraction",
            "Lithium brine operations",
            "Cobalt and nickel mines",
            "Critical mineral deals",
        ),
        (
            "expand in Chile's salt flats",
            "face protests from indigenous communities",
            "draw Chinese investment in Argentina",
            "strain water supplies in the Atacama",
            "win state backing in Australia",
        ),
        (
            "Oil dependence to mineral dependence",
            "Small mines to industrial extraction",
            "Open markets to resource nationalism",
        ),
        "Minerals as the new oil",
        "Battery demand",
    ),
)

EMERGING = (
    Topic(
        "humanoid-robots",
        "Robotics",
        (
            "Humanoid robots",
            "Two-legged warehouse robots",
            "General-purpose humanoid machines",
            "Bipedal robot workers",
            "Humanoid robot prototypes",
        ),
        (
            "start shifts in car factories",
            "unload trucks at logistics hubs",
            "learn tasks from human demonstrations",
            "enter mass production in Shenzhen",
            "sort parcels beside human staff",
        ),
        (
            "Fixed industrial arms to humanoid workers",
            "Human pickers to robot pickers",
            "Lab demos to factory deployments",
        ),
        "Humanoids in every warehouse",
        "Labour shortages",
    ),
    Topic(
        "cultivated-meat",
        "Food Innovation",
        (
            "Cultivated meat",
            "Lab-grown chicken",
            "Cell-cultured beef",
            "Cultured seafood",
            "Bioreactor-grown meat",
        ),
        (
            "wins regulatory approval in Singapore",
            "reaches restaurant menus in California",
            "gets cheaper in larger bioreactors",
            "faces bans in Italy and Florida",
            "enters supermarket tasting trials",
        ),
        (
            "Livestock farming to cell cultivation",
            "Slaughtered meat to grown meat",
            "Niche novelty to regulated food",
        ),
        "Meat grown without animals",
        "Food system emissions",
    ),
    Topic(
        "sodium-batteries",
        "Energy Storage",
        (
            "Sodium-ion battery cells",
            "Sodium batteries",
            "Salt-based battery packs",
            "Sodium-ion cells for e-bikes",
            "Lithium-free sodium batteries",
        ),
        (
            "enter mass production at CATL",
            "power budget electric cars in China",
            "replace lithium in grid storage",
            "cut battery costs for scooters",
            "start shipping from new gigafactories",
        ),
        (
            "Lithium cells to sodium cells",
            "Scarce metals to abundant salt",
            "Costly packs to cheap storage",
        ),
        "Cheap storage without lithium",
        "Battery cost pressure",
    ),
)

MONTHS = 12
YEAR = 2024
TAILS = ("this year", "despite rising costs", "for the first time", "amid public debate")
EMERGING_MONTHS = {10: 2, 11: 5, 12: 9}  # month -> cards per emerging topic at scale 1


@dataclass(frozen=True)
class Planted:
    """Where each topic's cards went: card id -> topic name, plus counts."""

    topics: dict[str, str]
    cards: int
    rows: int
    undated: int


def _card(rng: random.Random, topic: Topic, rows_per_card: tuple[int, int]) -> SignalCard:
    rows: list[SignalRow] = []
    pairs = [(s, p) for s in topic.subjects for p in topic.predicates]
    for subject, predicate in rng.sample(pairs, rng.randint(*rows_per_card)):
        tail = f" {rng.choice(TAILS)}" if rng.random() < 0.5 else ""
        rows.append(
            SignalRow(
                signal=f"{subject} {predicate}{tail}",
                change=rng.choice(topic.changes),
                horizon_10y=topic.horizon,
                driving_force=topic.force,
            )
        )
    first = rows[0].signal
    return SignalCard(
        title=first[0].upper() + first[1:],
        summary=" ".join(f"{row.signal}." for row in rows),
        keywords=list(topic.subjects),
        themes=[topic.theme, topic.force],
        signals=rows,
    )


def write_results(
    path: Path,
    *,
    seed: int = 7,
    scale: int = 1,
    steady_per_month: int = 3,
    undated: int = 8,
    rows_per_card: tuple[int, int] = (3, 4),
) -> Planted:
    """Write the planted corpus to `path`; `scale` multiplies every count."""
    rng = random.Random(seed)
    plan: list[tuple[Topic, str | None]] = []
    for month in range(1, MONTHS + 1):
        for topic in STEADY:
            for _ in range(rng.randint(steady_per_month - 1, steady_per_month + 1) * scale):
                plan.append((topic, f"{YEAR}-{month:02d}-{rng.randint(1, 28):02d}"))
        for topic in EMERGING:
            for _ in range(EMERGING_MONTHS.get(month, 0) * scale):
                plan.append((topic, f"{YEAR}-{month:02d}-{rng.randint(1, 28):02d}"))
    for index in range(undated * scale):
        plan.append((STEADY[index % len(STEADY)], None))
    rng.shuffle(plan)
    topics: dict[str, str] = {}
    rows = 0
    with path.open("w", encoding="utf-8") as out:
        for number, (topic, date) in enumerate(plan):
            card = _card(rng, topic, rows_per_card)
            ident = f"{topic.name}-{number:06d}"
            url = f"https://news.example/{ident}"
            record = ResultRecord(
                id=ident,
                key=f"{number:064x}",
                reference=reference(url, card.summary),
                source=url,
                card=card.model_copy(update={"link": url}),
                article=RecordArticle(title=card.title, url=url, date=date),
                model="synthetic",
            )
            out.write(json.dumps(record.model_dump(mode="json")) + "\n")
            topics[ident] = topic.name
            rows += len(card.signals)
    return Planted(topics=topics, cards=len(plan), rows=rows, undated=undated * scale)


class CachedMiniLM:
    """MiniLM that embeds each distinct text once per test session: the trend tests run the
    same planted corpus several ways."""

    name = "all-MiniLM-L6-v2-int8"

    def __init__(self) -> None:
        self._vectors: dict[str, Vectors] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        from extractor.backends.embeddings import minilm

        missing = [text for text in dict.fromkeys(texts) if text not in self._vectors]
        if missing:
            self._vectors.update(zip(missing, minilm().embed(missing), strict=True))
        return np.stack([self._vectors[text] for text in texts])


MINILM = CachedMiniLM()


class BagOfWords:
    """Hashed bag of words: no model, deterministic, and shared words make texts alike."""

    name = "bag-of-words"

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % 256] += 1
        unit: Vectors = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return unit


def record(
    ident: str,
    signals: Sequence[str],
    date: str | None = "2024-06-01",
    *,
    title: str | None = None,
    url: str | None = None,
    themes: Sequence[str] = ("Testing", "Examples"),
    duplicate_of: str | None = None,
    closest: Sequence[tuple[str, str]] = (),
) -> str:
    """One results line with a card of these signal cells (the other cells made up)."""
    url = url or f"https://news.example/{ident}"
    card = SignalCard.model_validate(
        {
            "title": title or f"Story {ident}",
            "summary": " ".join(f"{signal}." for signal in signals) or "Nothing.",
            "keywords": [],
            "themes": list(themes),
            "signals": [
                {
                    "signal": signal,
                    "change": "Old way to new way",
                    "horizon_10y": "More of it",
                    "driving_force": "Change",
                }
                for signal in signals
            ],
            "link": url,
            "closest": [{"title": t, "reference": r} for t, r in closest],
        },
        context={"limits": ANY_COUNT},
    )
    line = ResultRecord(
        id=ident,
        key=hashlib.sha256(ident.encode()).hexdigest(),
        reference=reference(url, card.summary),
        source=url,
        card=card,
        article=RecordArticle(title=card.title, url=url, date=date),
        duplicate_of=duplicate_of,
    )
    return line.to_json() + "\n"
