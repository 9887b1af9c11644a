"""The official `openai` Python package against an OpenAI-compatible endpoint of runpod-local.

Driven by tests/e2e/tests/it/python/openai.rs; prints one `RESULT {json}` line with what each
call returned. TEST_BASE_URL is the endpoint's `/openai/v1` URL, TEST_API_KEY the key.
"""

import json
import os

import openai

TEXT = os.environ["TEST_TEXT"]
client = openai.OpenAI(
    base_url=os.environ["TEST_BASE_URL"],
    api_key=os.environ["TEST_API_KEY"],
    max_retries=0,
)
result = {"version": openai.__version__}

result["models"] = [m.id for m in client.models.list().data]

messages = [{"role": "user", "content": TEXT}]
answer = client.chat.completions.create(model="runpod-echo", messages=messages)
result["chat"] = {
    "object": answer.object,
    "content": answer.choices[0].message.content,
    "finish_reason": answer.choices[0].finish_reason,
}

chunks = list(client.chat.completions.create(model="runpod-echo", messages=messages, stream=True))
result["chat_stream"] = {
    "count": len(chunks),
    "text": "".join(c.choices[0].delta.content or "" for c in chunks),
    "finish_reason": chunks[-1].choices[0].finish_reason,
    "object": chunks[0].object,
}

answer = client.completions.create(model="runpod-echo", prompt=TEXT)
result["completion"] = answer.choices[0].text
chunks = list(client.completions.create(model="runpod-echo", prompt=TEXT, stream=True))
result["completion_stream"] = {
    "count": len(chunks),
    "text": "".join(c.choices[0].text for c in chunks),
}

for stream in (False, True):
    try:
        client.chat.completions.create(
            model="runpod-echo",
            messages=[{"role": "system", "content": "be brief"}],
            stream=stream,
        )
        result[f"error_stream_{stream}"] = None
    except openai.APIStatusError as e:
        result[f"error_stream_{stream}"] = {
            "class": type(e).__name__,
            "status": e.status_code,
            "message": e.body.get("message") if isinstance(e.body, dict) else None,
        }

print("RESULT " + json.dumps(result), flush=True)
