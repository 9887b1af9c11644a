"""The official runpod 1.12.0 client (runpod.Endpoint / runpod.AsyncioEndpoint), one operation
per run (argv[1]). Prints `RESULT <json>` for tests/e2e/tests/it/python/client.rs to check.

RUNPOD_ENDPOINT_BASE_URL points the SDK at runpod-local; the key is set the documented way.
"""

import asyncio
import json
import os
import sys
import time
import types

import aiohttp
# runpod imports py-cpuinfo only to name the CPU in `--rp_debugger` output, and py-cpuinfo
# starts a second interpreter to find it out: about a second per process. No test here uses
# --rp_debugger, so a stub stands in; the SDK's own code runs unmodified.
sys.modules["cpuinfo"] = types.SimpleNamespace(get_cpu_info=lambda: {"brand_raw": "stub"})

import runpod

runpod.api_key = os.environ["TEST_API_KEY"]
ENDPOINT = os.environ["TEST_ENDPOINT"]
# An endpoint no worker serves, for what needs jobs to stay queued.
IDLE_ENDPOINT = os.environ.get("TEST_IDLE_ENDPOINT", ENDPOINT + "-idle")
# For the tours of a Rust worker (echo_worker's input protocol): where `{"stream": n}` jobs go,
# and an input that runs until cancelled.
STREAM_ENDPOINT = os.environ.get("TEST_STREAM_ENDPOINT", ENDPOINT)
HOLD_INPUT = {"sleep_ms": 600000}


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


def wait_running(job):
    """Polls the job's status until it runs (a handshake: cancel must reach a running handler)."""
    seen = [job.status()]
    while seen[-1] != "IN_PROGRESS" and len(seen) < 1500:
        time.sleep(0.02)
        seen.append(job.status())
    return seen[-1]


def op_tour():
    """Every sync-client operation against a Rust worker. The jobs are queued first, then read,
    so that the SDK's one-second polling sleeps overlap."""
    ep = runpod.Endpoint(ENDPOINT)
    result = {"run_sync": ep.run_sync({"echo": {"prompt": "hi"}}, timeout=60)}
    job = ep.run({"echo": ["later", 1]})
    failed = ep.run({"fail": "boom"})
    streamed = runpod.Endpoint(STREAM_ENDPOINT).run({"stream": 4})

    result["stream"] = {
        "id": streamed.job_id,
        "chunks": list(streamed.stream()),
        "status": streamed.status(),
        "output": streamed.output(timeout=60),
    }
    result["run"] = {"id": job.job_id, "output": job.output(timeout=60), "status": job.status()}
    output = failed.output(timeout=60)
    result["failed"] = {
        "id": failed.job_id,
        "output": output,
        "status": failed.status(),
        # The public API drops the error (its bug 4); the raw status document it fetches has it.
        "error": failed._fetch_job().get("error"),
    }

    held = ep.run(HOLD_INPUT)
    seen = wait_running(held)
    result["cancel"] = {"id": held.job_id, "seen": seen, "cancel": held.cancel(), "status": held.status()}

    idle = runpod.Endpoint(IDLE_ENDPOINT)
    ids = [idle.run({"echo": n}).job_id for n in range(3)]
    result["idle"] = {
        "ids": ids,
        "health": idle.health(),
        "purge": idle.purge_queue(),
        "health_after": idle.health(),
    }
    result["health"] = ep.health()
    emit(result)


async def op_asyncio_tour():
    """Every AsyncioEndpoint operation against a Rust worker (jobs queued first, as in `tour`)."""
    async with aiohttp.ClientSession() as session:
        ep = runpod.AsyncioEndpoint(ENDPOINT, session)
        job = await ep.run({"echo": {"prompt": "async"}})
        failed = await ep.run({"fail": "boom"})
        streamed = await runpod.AsyncioEndpoint(STREAM_ENDPOINT, session).run({"stream": 3})

        chunks = [chunk async for chunk in streamed.stream()]
        stream_status = await streamed.status()
        output = await job.output(timeout=60)
        status = await job.status()
        failed_output = await failed.output(timeout=60)
        failed_status = await failed.status()

        held = await ep.run(HOLD_INPUT)
        seen = await held.status()
        for _ in range(1500):
            if seen == "IN_PROGRESS":
                break
            await asyncio.sleep(0.02)
            seen = await held.status()
        cancel = await held.cancel()
        held_status = await held.status()

        idle = runpod.AsyncioEndpoint(IDLE_ENDPOINT, session)
        queued = [(await idle.run({"echo": n})).job_id for n in range(2)]
        health = await idle.health()
        purge = await idle.purge_queue()
        emit({
            "id": job.job_id,
            "output": output,
            "status": status,
            "stream": {"id": streamed.job_id, "chunks": chunks, "status": stream_status},
            "failed": {"id": failed.job_id, "output": failed_output, "status": failed_status},
            "cancel": {"id": held.job_id, "seen": seen, "cancel": cancel, "status": held_status},
            "idle": {"ids": queued, "health": health, "purge": purge},
        })


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

if __name__ == "__main__":
    op = OPS[sys.argv[1]]
    if asyncio.iscoroutinefunction(op):
        asyncio.run(op())
    else:
        op()
