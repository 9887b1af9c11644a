"""Client throughput of the official Python SDK (runpod==1.12.0, AsyncioEndpoint).

Run by `runpod-bench client` with the same flags as its Rust client processes; prints one JSON
line with the same fields. RUNPOD_ENDPOINT_BASE_URL must point at the local server.

--mode official: `job = await endpoint.run(input)`, then `await job.output(timeout=...)`, the
    SDK's own wait: a status GET at once, then one every 1 s, then one more GET.
--mode cadence:  the same `endpoint.run`, then `await job.status()` on the Rust SDK's schedule
    (at once, then its initial delay growing to its cap, passed as --initial-s/--multiplier/--cap-s; or a fixed
    --poll-ms), so that the comparison with the Rust SDK is per request, not per wait policy.
"""

import argparse
import asyncio
import json
import os
import sys
import time

import aiohttp
import runpod
from runpod import AsyncioEndpoint

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def peak_rss_kib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


async def wait_cadence(job, initial, multiplier, cap):
    delay, last = initial, None
    while True:
        status = await job.status()
        if status in TERMINAL:
            return status
        if status != last:
            if last is not None:
                delay = initial
            last = status
        current = delay
        delay = min(current * multiplier, cap)
        await asyncio.sleep(current)


async def drive(endpoint, jobs, concurrency, deadline, args, counter):
    state = {"next": 0, "ok": 0, "errors": 0, "first_error": None}
    initial, multiplier, cap = args.initial_s, args.multiplier, args.cap_s

    async def one(i):
        payload = {"i": i}
        job = await endpoint.run(payload)
        if args.mode == "official":
            output = await job.output(timeout=max(1, int(deadline - time.monotonic())))
        else:
            status = await wait_cadence(job, initial, multiplier, cap)
            if status != "COMPLETED":
                raise RuntimeError(f"job ended {status}")
            output = await job.output(timeout=10)  # cached by status(): no request
        if output != payload:
            raise RuntimeError(f"wrong output {output!r} for {payload!r}")

    async def worker():
        while True:
            i = state["next"]
            if i >= jobs:
                return
            state["next"] += 1
            try:
                await one(i)
                state["ok"] += 1
            except Exception as e:  # noqa: BLE001 - counted and reported
                state["errors"] += 1
                if state["first_error"] is None:
                    state["first_error"] = f"{type(e).__name__}: {e}"

    before = counter["requests"]
    cpu_before = os.times()
    start = time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.monotonic()))
    for t in pending:
        t.cancel()
    secs = time.perf_counter() - start
    cpu_after = os.times()
    cpu = (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system)
    requests = counter["requests"] - before
    polls = max(0, requests - state["ok"] - state["errors"])
    return state, secs, polls, bool(pending), cpu


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--jobs", type=int, required=True)
    p.add_argument("--concurrency", type=int, required=True)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--poll-ms", type=int, default=None)
    p.add_argument("--max-secs", type=int, default=120)
    p.add_argument("--count-requests", action="store_true")
    p.add_argument("--mode", choices=["official", "cadence"], default="official")
    # The Rust SDK's schedule (PollPolicy::default(), or --poll-ms), passed by the harness.
    p.add_argument("--initial-s", type=float, required=True)
    p.add_argument("--multiplier", type=float, required=True)
    p.add_argument("--cap-s", type=float, required=True)
    args = p.parse_args()

    runpod.endpoint_url_base = os.environ.get("RUNPOD_ENDPOINT_BASE_URL", f"{args.base_url}/v2")
    # With --count-requests (a run of its own: the hook costs time), count requests (one
    # POST /run per job; the rest are status polls) with aiohttp's tracing hook, as the Rust
    # client counts them through a tracing span.
    counter = {"requests": 0}
    traces = []
    if args.count_requests:

        async def on_request_start(session, ctx, params):
            counter["requests"] += 1

        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(on_request_start)
        traces.append(trace)
    # As in the SDK's README: the caller's aiohttp session (default connector: 100 connections).
    async with aiohttp.ClientSession(trace_configs=traces) as session:
        endpoint = AsyncioEndpoint(args.endpoint, session, api_key=args.api_key)
        deadline = time.monotonic() + args.max_secs
        await drive(endpoint, args.warmup, args.concurrency, deadline, args, counter)
        deadline = time.monotonic() + args.max_secs
        state, secs, polls, timed_out, cpu = await drive(
            endpoint, args.jobs, args.concurrency, deadline, args, counter
        )
    print(
        json.dumps(
            {
                "ok": state["ok"],
                "errors": state["errors"],
                "secs": secs,
                "status_polls": polls if args.count_requests else None,
                "peak_rss_kib": peak_rss_kib(),
                "cpu_secs": cpu,
                "timed_out": timed_out,
                "first_error": state["first_error"],
            }
        )
    )
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
