"""Model serving: cold load, warm first-token latency, /v1 overhead, concurrent chats.

Measures, with the bundled SmolLM2 on one thread, greedy decoding, the same prompt:

- ``cold_load_seconds``: building the default model's backend in this process;
- ``warm_first_token_ms_p50``: streamed first-token latency of the loaded model;
- ``direct_tokens_per_s`` vs ``endpoint_tokens_per_s``: completion tokens per second of
  ``backend.generate`` in process against ``POST /v1/chat/completions`` on a running
  ``smolit serve`` (client-side wall time, so HTTP and JSON are included), and their
  ``serving_ratio`` (target >= 0.9);
- ``concurrent``: 8 simultaneous chats through the endpoint: errors, and how many times
  the model was loaded (target 0 errors, 1 load).

Prints one JSON object.

    python -m bench.models [--runs 5] [--tokens 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import torch
from tests.integration.server import start_server

from smolit.config import ModelDefinition
from smolit.models.backends.transformers_local import TransformersBackend
from smolit.models.base import ChatMessage, GenerationParams

PROMPT = "Explain in a few sentences why the sky is blue."
CONFIG = """
models:
  default_model: smollm2
  definitions:
    smollm2: {backend: transformers, path: bundled, threads: 1}
agents:
  - name: science
    description: Science questions.
    examples:
      - Why is the sky blue?
"""


def direct(runs: int, tokens: int) -> dict[str, Any]:
    started = time.perf_counter()
    backend = TransformersBackend(
        "smollm2", ModelDefinition(backend="transformers", path="bundled")
    )
    cold = time.perf_counter() - started
    messages = [ChatMessage("user", PROMPT)]
    params = GenerationParams(max_new_tokens=tokens)
    backend.generate(messages, GenerationParams(max_new_tokens=4))  # warm-up
    speeds, first = [], []
    for _ in range(runs):
        began = time.perf_counter()
        result = backend.generate(messages, params)
        speeds.append(result.completion_tokens / (time.perf_counter() - began))
        for event in backend.stream(messages, GenerationParams(max_new_tokens=2)):
            if event.result is not None and event.result.first_token_seconds is not None:
                first.append(event.result.first_token_seconds)
    backend.close()
    return {
        "cold_load_seconds": round(cold, 2),
        "warm_first_token_ms_p50": round(1000 * statistics.median(first), 1) if first else None,
        "direct_tokens_per_s": round(statistics.median(speeds), 2),
        "direct_runs": [round(s, 2) for s in speeds],
    }


def chat(client: httpx.Client, tokens: int, content: str = PROMPT) -> dict[str, Any]:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": content}],
        "max_tokens": tokens,
        "temperature": 0,
    }
    response = client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    reply: dict[str, Any] = response.json()
    return reply


def endpoint(runs: int, tokens: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as home:
        server = start_server(Path(home), CONFIG)
        try:
            with server.client() as client:
                chat(client, 4)  # loads the model
                speeds = []
                for _ in range(runs):
                    began = time.perf_counter()
                    reply = chat(client, tokens)
                    wall = time.perf_counter() - began
                    speeds.append(reply["usage"]["completion_tokens"] / wall)
                errors = 0

                def one(i: int) -> bool:
                    try:
                        chat(client, 8, f"Say the number {i}.")
                        return True
                    except httpx.HTTPError:
                        return False

                with ThreadPoolExecutor(8) as pool:
                    errors = sum(not ok for ok in pool.map(one, range(8)))
                loaded = client.get("/models/loaded").json()["models"]
        finally:
            server.stop()
    loads = {m["model"]: m["loads"] for m in loaded}
    return {
        "endpoint_tokens_per_s": round(statistics.median(speeds), 2),
        "endpoint_runs": [round(s, 2) for s in speeds],
        "concurrent": {"requests": 8, "errors": errors, "loads": loads},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report: dict[str, Any] = {"runs": args.runs, "max_tokens": args.tokens}
    report.update(direct(args.runs, args.tokens))
    report.update(endpoint(args.runs, args.tokens))
    report["serving_ratio"] = round(
        report["endpoint_tokens_per_s"] / report["direct_tokens_per_s"], 3
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
