"""The baseline of the batch benchmarks: a bare AsyncOpenAI script, no extractor code.

It sends, for each article of a JSONL manifest (`id`, `text`), the request `extractor batch`
sends: a request body captured from the extractor (see `batch_common.capture_template`) with
the captured article's text and title replaced by this article's. `concurrency` workers take
articles from a bounded queue; each answer's content is parsed as JSON and written as one
line of OUTPUT. It prints `bare: N done in S s` on stderr, S being the time after imports.

    python benchmarks/batch_bare.py MANIFEST TEMPLATE OUTPUT --base-url URL [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI


def _title(text: str) -> str | None:
    first, _, rest = text.partition("\n")
    return first.strip() if rest.startswith("\n") and len(first) <= 200 else None


def build(template: dict[str, Any], text: str) -> dict[str, Any]:
    """The captured request body, with the captured article swapped for `text`."""
    body = json.loads(json.dumps(template["body"]))
    old_text, old_title = template["text"], template["title"]
    title = _title(text)
    for message in body["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"].replace(old_text, text)
        message["content"] = content.replace(f'titled "{old_title}"', f'titled "{title}"')
    return body


async def run(args: argparse.Namespace) -> int:
    template = json.loads(Path(args.template).read_text(encoding="utf-8"))
    client = AsyncOpenAI(base_url=args.base_url, api_key="sk-test", max_retries=0)
    queue: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue(maxsize=args.concurrency * 2)
    done = 0

    async def produce() -> None:
        with open(args.manifest, encoding="utf-8") as handle:
            for line in handle:
                entry = json.loads(line)
                await queue.put((entry["id"], entry["text"]))
        for _ in range(args.concurrency):
            await queue.put(None)

    async def work(out: Any) -> None:
        nonlocal done
        while (item := await queue.get()) is not None:
            ident, text = item
            completion = await client.chat.completions.create(**build(template, text))
            card = json.loads(completion.choices[0].message.content or "{}")
            out.write(json.dumps({"id": ident, "card": card}, ensure_ascii=False) + "\n")
            out.flush()
            done += 1

    started = time.perf_counter()
    with open(args.output, "a", encoding="utf-8") as out:
        await asyncio.gather(produce(), *(work(out) for _ in range(args.concurrency)))
    await client.close()
    print(f"bare: {done} done in {time.perf_counter() - started:.3f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest")
    parser.add_argument("template")
    parser.add_argument("output")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    raise SystemExit(asyncio.run(run(parser.parse_args())))
