"""The official runpod 1.12.0 client (runpod.Endpoint / runpod.AsyncioEndpoint), one operation
per run (argv[1]). Prints `RESULT <json>` for tests/e2e/tests/it/python/client.rs to check.

RUNPOD_ENDPOINT_BASE_URL points the SDK at runpod-local; the key is set the documented way.
"""

import asyncio
import json
import os
import sys
import time

import aiohttp
import runpod

runpod.api_key = os.environ["TEST_API_KEY"]
ENDPOINT = os.environ["TEST_ENDPOINT"]
# An endpoint no worker serves, for what needs jobs to stay queued.
IDLE_ENDPOINT = ENDPOINT + "-idle"


def emit(result):
    print("RESULT " + json.dumps(result), flush=True)


def op_run_sync():
    ep = runpod.Endpoint(ENDPOINT)
    emit({"output": ep.run_sync({"prompt": "hi"}, timeout=60)})


def op_run_status_output():
    ep = runpod.Endpoint(ENDPOINT)
    job = ep.run({"prompt": "later"})
    emit({"id": job.job_id, "output": job.output(timeout=60), "status": job.status()})


def op_stream():
    ep = runpod.Endpoint(ENDPOINT)
    job = ep.run({"stream": 4})
    emit({"id": job.job_id, "chunks": list(job.stream()), "status": job.status()})


def op_cancel():
    ep = runpod.Endpoint(ENDPOINT)
    job = ep.run({"hold": True})
    # Cancel a running job, so that its worker must be told to stop it.
    seen = [job.status()]
    while seen[-1] != "IN_PROGRESS" and len(seen) < 500:
        time.sleep(0.02)
        seen.append(job.status())
    emit({"id": job.job_id, "cancel": job.cancel(), "status": job.status(), "seen": seen[-1]})


def op_health():
    emit(runpod.Endpoint(ENDPOINT).health())


def op_purge_queue():
    ep = runpod.Endpoint(IDLE_ENDPOINT)
    ids = [ep.run({"queued": n}).job_id for n in range(3)]
    emit({"ids": ids, "purge": ep.purge_queue()})


def op_failed():
    ep = runpod.Endpoint(ENDPOINT)
    job = ep.run({"fail": "on purpose"})
    output = job.output(timeout=60)
    emit({"id": job.job_id, "output": output, "status": job.status()})


async def op_asyncio():
    async with aiohttp.ClientSession() as session:
        ep = runpod.AsyncioEndpoint(ENDPOINT, session)
        job = await ep.run({"prompt": "async"})
        output = await job.output(timeout=60)
        status = await job.status()
        stream_job = await ep.run({"stream": 3})
        chunks = [chunk async for chunk in stream_job.stream()]
        idle = runpod.AsyncioEndpoint(IDLE_ENDPOINT, session)
        held = await idle.run({"hold": True})
        cancel = await held.cancel()
        queued = await idle.run({"never": "taken"})
        health = await idle.health()
        purge = await idle.purge_queue()
        emit({
            "id": job.job_id,
            "output": output,
            "status": status,
            "chunks": chunks,
            "cancel": cancel,
            "cancelled_id": held.job_id,
            "queued_id": queued.job_id,
            "health": health,
            "purge": purge,
        })


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

if __name__ == "__main__":
    op = OPS[sys.argv[1]]
    if asyncio.iscoroutinefunction(op):
        asyncio.run(op())
    else:
        op()
