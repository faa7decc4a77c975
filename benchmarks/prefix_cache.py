"""Does putting the article before the section's question pay off with the embedded model?

The sectioned strategy makes five calls per article. With the article first, consecutive calls
share the prompt prefix and llama.cpp evaluates only the new tail; with the question first,
every call re-reads the article. Both orders run on the same articles in one process, order
alternated, and the ratio of their wall times is reported.

    python benchmarks/prefix_cache.py [ARTICLE ...]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from extractor import ExtractionError, Extractor, Usage, load_article
from extractor.backends.embedded import _llama
from extractor.core.card import DEFAULT_LIMITS
from extractor.core.schema import SECTIONS
from extractor.pipeline.prompting import Prompts, prompts_dir

ROOT = Path(__file__).resolve().parent.parent
QUESTION_FIRST = """{% include "task.j2" %}

Article{% if article.title %} titled "{{ article.title }}"{% endif %}:
<article>
{{ article.text }}
</article>
"""


def _question_first_prompts() -> Path:
    directory = Path(tempfile.mkdtemp()) / "prompts"
    shutil.copytree(prompts_dir(), directory)
    (directory / "user.j2").write_text(QUESTION_FIRST, encoding="utf-8")
    return directory


def _time(extractor: Extractor, path: Path) -> tuple[float, Usage, bool]:
    started = time.perf_counter()
    try:
        usage, ok = extractor.extract(load_article(path)).usage, True
    except ExtractionError as err:
        usage, ok = err.usage, False
    return time.perf_counter() - started, usage, ok


def _prefill(prompts: Prompts, path: Path) -> float:
    """Seconds to read the five section prompts of one article, answering one token each:
    the part of the work the prompt order can change."""
    llama = _llama()
    article = load_article(path)
    started = time.perf_counter()
    for section in SECTIONS:
        messages = prompts.messages(article, section, DEFAULT_LIMITS, None, sentences=True)
        llama.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)
    return time.perf_counter() - started


def main(paths: list[Path]) -> None:
    orders = {
        "article-first": Extractor(),
        "question-first": Extractor(prompts_dir=str(_question_first_prompts())),
    }
    _time(orders["article-first"], paths[0])  # load the model once, outside the timings
    seconds: dict[str, list[float]] = {name: [] for name in orders}
    print("| article | order | seconds | prompt tokens | completion tokens | requests | card |")
    print("|---|---|---|---|---|---|---|")
    for index, path in enumerate(paths):
        names = list(orders) if index % 2 == 0 else list(reversed(orders))
        for name in names:
            took, usage, ok = _time(orders[name], path)
            seconds[name].append(took)
            print(
                f"| {path.name} | {name} | {took:.1f} | {usage.prompt_tokens} "
                f"| {usage.completion_tokens} | {usage.requests} | {'ok' if ok else 'FAILED'} |",
                flush=True,
            )
    _report("whole extraction", seconds)
    prefill: dict[str, list[float]] = {name: [] for name in orders}
    for index, path in enumerate(paths):
        names = list(orders) if index % 2 == 0 else list(reversed(orders))
        for name in names:
            prefill[name].append(_prefill(orders[name].prompts, path))
    _report("prompt reading only", prefill)


def _report(what: str, seconds: dict[str, list[float]]) -> None:
    first, second = (statistics.mean(values) for values in seconds.values())
    print(f"{what}: mean s/article article-first {first:.2f}, question-first {second:.2f}")
    print(f"{what}: ratio question-first / article-first {second / first:.2f}")


if __name__ == "__main__":
    given = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "examples").glob("*.txt"))
    main(given)
