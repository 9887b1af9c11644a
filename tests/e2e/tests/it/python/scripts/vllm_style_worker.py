"""The official runpod 1.12.0 worker running a handler shaped like worker-vllm's.

Like worker-vllm (`src/engine.py`, RAW_OPENAI_OUTPUT=1, `return_aggregate_stream: True`): the
job input is `{"openai_route", "openai_input"}`; a streaming call yields raw SSE text, several
events joined per yield, ending with `data: [DONE]`; any other call yields one document.
Driven by tests/e2e/tests/it/python/openai.rs.
"""

import json
import sys
import types

# See worker.py: py-cpuinfo is stubbed; the SDK's own code runs unmodified.
sys.modules["cpuinfo"] = types.SimpleNamespace(get_cpu_info=lambda: {"brand_raw": "stub"})

import runpod

MODEL = "py-echo"


def chunk(delta, finish_reason):
    return {
        "id": "py-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def sse(document):
    return "data: " + json.dumps(document) + "\n\n"


async def handler(job):
    route = job["input"].get("openai_route")
    body = job["input"].get("openai_input") or {}
    if route == "/v1/models":
        yield {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "python"}]}
        return
    if route != "/v1/chat/completions":
        yield {"error": {"message": "Invalid route", "type": "worker_error", "code": None}}
        return
    text = body["messages"][-1]["content"]
    words = text.split()
    if not body.get("stream"):
        yield {
            "id": "py-1",
            "object": "chat.completion",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
        return
    batch = []
    for i, word in enumerate(words):
        token = word if i == len(words) - 1 else word + " "
        batch.append(sse(chunk({"content": token}, None)))
        if len(batch) == 2:
            yield "".join(batch)
            batch = []
    batch.append(sse(chunk({}, "stop")))
    batch.append("data: [DONE]\n\n")
    yield "".join(batch)


runpod.serverless.start({"handler": handler, "return_aggregate_stream": True})
