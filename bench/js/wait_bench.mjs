// `runpod-bench wait`'s JS row: the official JS SDK (runpod-sdk 1.1.2 from npm, found through
// NODE_PATH). Every job is submitted at once with `endpoint.run`, then waited for as the SDK's
// own runSync does after /runsync: `statusSync` (GET /status-sync/{id}?wait=) until the job
// ends. With `--runsync`, every job goes through the SDK's `runSync` instead (POST
// /runsync?wait=, then the same statusSync loop while the job has not ended). Requests are counted by wrapping the global fetch (the SDK's xior calls it); the
// completion-to-caller latency is the wall clock now minus the handler's `done_at_us` stamp.
// Prints one JSON line with the fields of the Rust child.

import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { cpuUsage } from "node:process";

// The SDK sends through xior, which calls the global fetch: counting fetch counts its requests.
let requests = 0;
const realFetch = globalThis.fetch;
globalThis.fetch = (...fetchArgs) => {
  requests += 1;
  return realFetch(...fetchArgs);
};

const require = createRequire(import.meta.url);
const sdkPath = require.resolve("runpod-sdk", { paths: (process.env.NODE_PATH || "").split(":") });
const { default: runpodSdk } = await import(sdkPath);

const { values: args } = parseArgs({
  options: {
    "base-url": { type: "string" },
    endpoint: { type: "string" },
    "api-key": { type: "string" },
    jobs: { type: "string" },
    runsync: { type: "boolean", default: false },
  },
});

const TERMINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"]);
const nowUs = () => Math.round((performance.timeOrigin + performance.now()) * 1000);

const endpoint = runpodSdk(args["api-key"], { baseUrl: `${args["base-url"]}/v2` }).endpoint(
  args.endpoint,
);

async function one(i) {
  if (args.runsync) {
    // The SDK's default timeout (90 s), which is also its runsync hold.
    const job = await endpoint.runSync({ input: { i } });
    if (job.status !== "COMPLETED") throw new Error(`job ended ${job.status}`);
    return nowUs() - job.output.done_at_us;
  }
  const queued = await endpoint.run({ input: { i } }, 60000);
  let job = queued;
  while (!TERMINAL.has(job.status)) {
    job = await endpoint.statusSync(queued.id, 90000);
  }
  if (job.status !== "COMPLETED") throw new Error(`job ended ${job.status}`);
  return nowUs() - job.output.done_at_us;
}

const cpuBefore = cpuUsage();
const outcomes = await Promise.allSettled(
  Array.from({ length: Number(args.jobs) }, (_, i) => one(i)),
);
const cpu = cpuUsage(cpuBefore);
const result = { ok: 0, errors: 0, latencies_us: [], first_error: null };
for (const o of outcomes) {
  if (o.status === "fulfilled") {
    result.ok += 1;
    result.latencies_us.push(o.value);
  } else {
    result.errors += 1;
    result.first_error ??= String(o.reason);
  }
}
result.cpu_secs = (cpu.user + cpu.system) / 1e6;
result.requests = requests;
console.log(JSON.stringify(result));
