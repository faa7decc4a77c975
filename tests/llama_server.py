"""llama-cpp-python's OpenAI-compatible server, on the embedded backend's portable CPU path,
for recording cassettes. Its own `python -m llama_cpp.server` segfaults in the first decode on
CPUs with AMX (see extractor/backends/embedded.py), and it takes no flag to avoid that.

    python tests/llama_server.py --model MODEL.gguf --model_alias smollm2-135m-instruct \
        --host 127.0.0.1 --port 8765 --n_ctx 8192
"""

from __future__ import annotations

from typing import Any

import llama_cpp.llama_cpp as native

from extractor.backends.embedded import EXTRA_BUFFER_TYPES

_defaults = native.llama_model_default_params


def _portable() -> Any:
    params = _defaults()
    params.use_extra_bufts = EXTRA_BUFFER_TYPES
    return params


if __name__ == "__main__":
    native.llama_model_default_params = _portable
    from llama_cpp.server.__main__ import main

    main()
