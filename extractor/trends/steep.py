"""The STEEP category of a trend (social, technological, economic, environmental,
political), measured rather than guessed: the category whose prototype descriptions hold the
phrase nearest to the trend's mean vector, in the same embedding space as the signals.

Each category has a handful of short descriptions of what news about it is about (the
README lists them). Nearest single description beats nearest mean of a category's
descriptions on the 16 gold cards, where each card's mean row vector stands for a trend: 14
of 16 land in a category a reader would accept for the card (hand-labelled before the
check), against 12 of 16 for the means. The two misses, the writers' contract setting AI
rules and schools locking away phones, go to "political": both are about rules, and both
would be social for most analysts. An LLM, when one is configured, names the category
instead (see `labels`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from extractor.backends.embeddings import Embedder, Vectors

CATEGORIES = ("social", "technological", "economic", "environmental", "political")

PROTOTYPES: Mapping[str, tuple[str, ...]] = {
    "social": (
        "how people live, learn, work and spend their free time",
        "public health, medicine, hospitals and patients",
        "schools, education, children and young people",
        "families, ageing, migration and demographics",
        "workers, unions, jobs and working conditions",
        "culture, arts, media and entertainment",
        "consumer habits, lifestyles and wellbeing",
        "housing, neighbourhoods and communities",
    ),
    "technological": (
        "new technology, software and artificial intelligence models",
        "computers, chips, the internet and digital platforms",
        "robots, automation and self-driving machines",
        "scientific research and engineering breakthroughs",
        "cybersecurity, IT outages and data systems",
        "rockets, spacecraft and satellites",
        "biotechnology, genetics and new materials",
        "batteries, reactors and new energy technology",
    ),
    "economic": (
        "markets, prices, inflation and interest rates",
        "companies, investors, profits and competition",
        "banks, finance, currencies and crypto assets",
        "trade, tariffs, shipping and supply chains",
        "commodity prices and raw material supply",
        "real estate, property values and offices",
        "wages, productivity and economic growth",
        "costs, subsidies and business models",
    ),
    "environmental": (
        "climate change, global warming and emissions",
        "extreme weather, heatwaves, droughts and floods",
        "nature, biodiversity, oceans and forests",
        "pollution, waste and recycling",
        "farming, harvests, water and natural resources",
        "renewable energy, clean power and the energy transition",
        "carbon targets and climate pledges",
    ),
    "political": (
        "government policy, laws and regulation",
        "elections, parties, voters and democracy",
        "geopolitics, international rivalry and conflict",
        "military, defence, weapons and national security",
        "courts, lawsuits and legal rights",
        "public spending, taxes and state budgets",
        "regulators, bans and official approvals",
        "diplomacy, sanctions and alliances",
    ),
}


class SteepClassifier:
    """Embeds the prototypes once per embedder; `classify` is then a matrix product."""

    def __init__(self, embedder: Embedder) -> None:
        phrases = [(name, text) for name in CATEGORIES for text in PROTOTYPES[name]]
        self._owners = [name for name, _ in phrases]
        vectors = np.asarray(embedder.embed([text for _, text in phrases]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._vectors: Vectors = vectors / np.maximum(norms, 1e-12)

    def classify(self, vector: Vectors) -> str:
        """The category of the description nearest to `vector` (any length: cosine)."""
        return self._owners[int(np.argmax(self._vectors @ vector))]
