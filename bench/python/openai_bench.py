"""Streaming chat completions with the official `openai` client (AsyncOpenAI), for
`runpod-bench openai`: the same flags and JSON fields as its Rust client process.

--streams loops, each opening a streaming completion after the previous one ended, for
--seconds; prints completions, chunks, errors, elapsed and CPU time, first-chunk percentiles.
"""

import argparse
import asyncio
import json
import time

import openai

KEY = "bench-key"
ENDPOINT = "openai"


def percentile(samples, p):
    if not samples:
        return None
    samples = sorted(samples)
    return samples[round((len(samples) - 1) * p / 100)]


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--streams", type=int, required=True)
    parser.add_argument("--seconds", type=int, required=True)
    parser.add_argument("--words", type=int, required=True)
    args = parser.parse_args()
    client = openai.AsyncOpenAI(
        base_url=f"{args.base_url}/v2/{ENDPOINT}/openai/v1", api_key=KEY, max_retries=0
    )
    text = " ".join(f"w{i}" for i in range(args.words))
    messages = [{"role": "user", "content": text}]
    counts = {"completions": 0, "chunks": 0, "errors": 0}
    ttfc = []
    cpu_before = time.process_time()
    start = time.monotonic()
    deadline = start + args.seconds

    async def loop():
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                stream = await client.chat.completions.create(
                    model="runpod-echo", messages=messages, stream=True
                )
                first = True
                async for _chunk in stream:
                    if first:
                        ttfc.append((time.monotonic() - sent) * 1000)
                        first = False
                    counts["chunks"] += 1
                counts["completions"] += 1
            except openai.OpenAIError:
                counts["errors"] += 1

    await asyncio.gather(*(loop() for _ in range(args.streams)))
    elapsed = time.monotonic() - start
    print(
        json.dumps(
            {
                **counts,
                "elapsed_s": elapsed,
                "cpu_s": time.process_time() - cpu_before,
                "ttfc_p50_ms": percentile(ttfc, 50),
                "ttfc_p95_ms": percentile(ttfc, 95),
            }
        ),
        flush=True,
    )


asyncio.run(main())
