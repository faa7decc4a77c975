"""Signal rows into trends: average-linkage agglomerative clustering on cosine similarity,
cut where the groups' mean similarity falls below a floor, after a k-means summary when the
rows are too many for it.

Why these, from scipy and scikit-learn. A trend is a set of rows that are, on average, about
the same development, and the number of trends is not known beforehand, so the clustering
must stop at a similarity rather than at a count: average linkage with a distance threshold
does exactly that, and its one parameter reads as a cosine ("two groups join while their
rows are on average at least 0.35 alike"). It needs every pairwise distance, which is too
many past a few thousand rows, so larger corpora are first summarised by scikit-learn's
MiniBatchKMeans into `MICRO` small groups (about 12 rows each for 50,000 rows), and the
groups are linked instead. The distance between two groups is one minus the dot product of
their mean vectors, which is exactly the mean cosine between their rows: the summary changes
which rows must stay together, not what "alike" means. k-means starts from random rows:
k-means++ seeding took 66 s for 2,000 centres on 50,000 rows, and buys nothing when the
centres only summarise. HDBSCAN, BERTopic's choice, takes time that grows with the square of
the rows in 384 dimensions (BENCHMARKS.md), and its usual remedy, a UMAP reduction first, is
one more heavy dependency (numba) and one more pass over every row.

The floor, 0.35 for all-MiniLM-L6-v2 on `signal. change` texts, was read off the 16 gold
cards' 81 rows: at 0.35 the only groups spanning two cards are ones a reader would make (AI
rules for writers and music labels, AI training on creative work, dependence on China,
single-supplier risk); at 0.30 a drone row joins the military AI rows of another card. On
the planted corpus of the tests, 0.25 merges sodium-ion batteries into lithium mining.
Another embedder needs its own floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from extractor.backends.embeddings import Vectors

DEFAULT_SIMILARITY = 0.35
# Rows linked directly up to this many; beyond, k-means groups of them. 4,000 points need a
# 64 MB distance matrix and about a second of linkage.
MICRO = 4000
_SEED = 0

Ints = np.ndarray[Any, np.dtype[np.int64]]


def cluster_rows(
    vectors: Vectors, similarity: float = DEFAULT_SIMILARITY, *, micro: int = MICRO
) -> Ints:
    """A cluster number per row (unit vectors), numbered from 0; deterministic."""
    if not -1.0 <= similarity <= 1.0:
        raise ValueError(f"similarity is a cosine, between -1 and 1; got {similarity}")
    count = len(vectors)
    if count < 2:
        return np.zeros(count, dtype=np.int64)
    groups, means = _summary(vectors, micro)
    if len(means) < 2:
        return np.zeros(count, dtype=np.int64)
    distances = 1.0 - means @ means.T
    np.fill_diagonal(distances, 0.0)
    np.clip(distances, 0.0, 2.0, out=distances)
    tree = linkage(squareform(distances, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - similarity, criterion="distance").astype(np.int64) - 1
    numbered: Ints = labels[groups]
    return numbered


def _summary(vectors: Vectors, micro: int) -> tuple[Ints, Vectors]:
    """Each row's group and the groups' mean vectors (not normalised: their dot product is
    the mean cosine between the rows of two groups)."""
    if len(vectors) <= micro:
        return np.arange(len(vectors), dtype=np.int64), vectors
    from sklearn.cluster import MiniBatchKMeans  # a second to import: only when needed

    kmeans = MiniBatchKMeans(
        n_clusters=micro, init="random", n_init=1, batch_size=2048, random_state=_SEED
    )
    found = kmeans.fit_predict(vectors)
    _, groups = np.unique(found, return_inverse=True)  # numbered densely: none empty
    groups = groups.astype(np.int64)
    means = np.zeros((int(groups.max()) + 1, vectors.shape[1]), dtype=np.float32)
    np.add.at(means, groups, vectors)
    means /= np.bincount(groups)[:, None].astype(np.float32)
    return groups, means
