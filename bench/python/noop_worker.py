"""The official Python worker (runpod==1.12.0) with a no-op handler, for `runpod-bench worker`.

Returns the job's `echo` input, as the Rust echo_worker does for `{"echo": x}`. The handler is
async so that `concurrency_modifier` (BENCH_CONCURRENCY) lets jobs overlap. The RUNPOD_WEBHOOK_*
environment comes from runpod-local.
"""

import os

import runpod

CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "1"))


async def handler(job):
    return job["input"].get("echo")


runpod.serverless.start(
    {"handler": handler, "concurrency_modifier": lambda current: CONCURRENCY}
)
