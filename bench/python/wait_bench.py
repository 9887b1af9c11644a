"""`runpod-bench wait`'s Python row: the official client (runpod==1.12.0, AsyncioEndpoint).

Every job is submitted at once (`await endpoint.run(input)`) and waited for with the SDK's own
`await job.output()`. Requests are counted with aiohttp's tracing hook; the completion-to-caller
latency is the wall clock now minus the `done_at_us` the server's handler stamped in the output.
Prints one JSON line with the fields of the Rust child.
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


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--jobs", type=int, required=True)
    args = p.parse_args()
    runpod.endpoint_url_base = f"{args.base_url}/v2"

    counter = {"requests": 0}

    async def on_request_start(session, ctx, params):
        counter["requests"] += 1

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request_start)
    result = {"ok": 0, "errors": 0, "latencies_us": [], "first_error": None}
    cpu_before = os.times()
    # As in the SDK's README: the caller's aiohttp session (default connector: 100 connections).
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        endpoint = AsyncioEndpoint(args.endpoint, session, api_key=args.api_key)

        async def one(i):
            job = await endpoint.run({"i": i})
            output = await job.output(timeout=600)
            now_us = time.time_ns() // 1000
            return now_us - int(output["done_at_us"])

        for outcome in await asyncio.gather(
            *(one(i) for i in range(args.jobs)), return_exceptions=True
        ):
            if isinstance(outcome, BaseException):
                result["errors"] += 1
                if result["first_error"] is None:
                    result["first_error"] = f"{type(outcome).__name__}: {outcome}"
            else:
                result["ok"] += 1
                result["latencies_us"].append(outcome)
    cpu_after = os.times()
    result["cpu_secs"] = (cpu_after.user - cpu_before.user) + (
        cpu_after.system - cpu_before.system
    )
    result["requests"] = counter["requests"]
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
