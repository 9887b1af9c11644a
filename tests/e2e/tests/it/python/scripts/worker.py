"""The official runpod 1.12.0 worker, started with one handler kind (argv[1]).

Driven by tests/e2e/tests/it/python/worker.rs against an in-process runpod-local.
`TEST_CONTROL_DIR` is a directory the test uses to release blocked handlers.
"""

import asyncio
import os
import sys
import time
import types

# runpod imports py-cpuinfo only to name the CPU in `--rp_debugger` output, and py-cpuinfo
# starts a second interpreter to find it out: about a second per process. No test here uses
# --rp_debugger, so a stub stands in; the SDK's own code runs unmodified.
sys.modules["cpuinfo"] = types.SimpleNamespace(get_cpu_info=lambda: {"brand_raw": "stub"})

import runpod

KIND = sys.argv[1]
CONTROL = os.environ.get("TEST_CONTROL_DIR", "")


def wait_for_release(name):
    """Blocks until the test creates CONTROL/name (a handshake, not a timing guess)."""
    path = os.path.join(CONTROL, name)
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


def plain(job):
    return {"echo": job["input"], "job_id": job["id"]}


async def async_handler(job):
    await asyncio.sleep(0.01)
    return {"async_echo": job["input"]}


def generator(job):
    for i in range(job["input"]["n"]):
        yield {"token": i}


async def async_generator(job):
    for i in range(job["input"]["n"]):
        await asyncio.sleep(0.01)
        yield f"tok-{i}"


def raises(job):
    raise ValueError(f"bad input: {job['input']['value']}")


def progress(job):
    runpod.serverless.progress_update(job, {"pct": 50})
    wait_for_release(job["id"])
    return {"done": True}


async def blocks(job):
    """Runs until the server tells the worker to stop it (cancel / timeout)."""
    if job["input"].get("block"):
        await asyncio.sleep(3600)
    return {"quick": job["input"]}


def echo(job):
    """echo_worker's protocol: `{"echo": x}` returns x (the batch tests share a queue with it)."""
    return job["input"].get("echo")


RUNNING = {"now": 0, "peak": 0}


async def concurrent(job):
    RUNNING["now"] += 1
    RUNNING["peak"] = max(RUNNING["peak"], RUNNING["now"])
    started = time.time()
    await asyncio.sleep(1.0)
    RUNNING["now"] -= 1
    return {"n": job["input"]["n"], "peak": RUNNING["peak"], "started": started}


CONFIGS = {
    "plain": {"handler": plain},
    "async": {"handler": async_handler},
    "generator": {"handler": generator},
    "generator_aggregate": {"handler": async_generator, "return_aggregate_stream": True},
    "raises": {"handler": raises},
    "progress": {"handler": progress},
    "refresh": {"handler": plain, "refresh_worker": True},
    "blocks": {"handler": blocks},
    "concurrent": {"handler": concurrent, "concurrency_modifier": lambda current: 3},
    "echo": {"handler": echo, "concurrency_modifier": lambda current: 4},
}

runpod.serverless.start(CONFIGS[KIND])
