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

from extractor import ExtractionError, Extractor, load_article
from extractor.pipeline.prompting import prompts_dir

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


def _time(extractor: Extractor, path: Path) -> tuple[float, int, int, bool]:
    started = time.perf_counter()
    try:
        usage, ok = extractor.extract(load_article(path)).usage, True
    except ExtractionError as err:
        usage, ok = err.usage, False
    return time.perf_counter() - started, usage.prompt_tokens, usage.requests, ok


def main(paths: list[Path]) -> None:
    orders = {
        "article-first": Extractor(),
        "question-first": Extractor(prompts_dir=str(_question_first_prompts())),
    }
    _time(orders["article-first"], paths[0])  # load the model once, outside the timings
    seconds: dict[str, list[float]] = {name: [] for name in orders}
    for index, path in enumerate(paths):
        names = list(orders) if index % 2 == 0 else list(reversed(orders))
        for name in names:
            took, prompt_tokens, requests, ok = _time(orders[name], path)
            seconds[name].append(took)
            print(f"{path.name:40} {name:15} {took:6.2f} s  {prompt_tokens:6} prompt tokens "
                  f"{requests:3} requests  {'ok' if ok else 'FAILED'}")
    first, second = (statistics.mean(seconds[n]) for n in orders)
    print(f"mean s/article: article-first {first:.2f}, question-first {second:.2f}")
    print(f"ratio question-first / article-first: {second / first:.2f}")


if __name__ == "__main__":
    given = [Path(p) for p in sys.argv[1:]] or sorted((ROOT / "examples").glob("*.txt"))
    main(given)
