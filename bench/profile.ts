/**
 * Where a request's time goes: runs one load cell against our server started
 * under `--inspect`, samples its CPU with the V8 profiler over the Chrome
 * DevTools Protocol, and prints self time by category (crypto, SQLite, JSON,
 * HTTP, …) and by function. Writes the raw `.cpuprofile` (open it in Chrome
 * DevTools) next to the other results.
 *
 *   deno task bench:profile --flow b --concurrency 32 --duration 5 [--top 30]
 *
 * With `--heap`, samples allocations instead (V8's sampling heap profiler,
 * collected objects included) and prints the bytes each allocating function
 * takes per operation, with its nearest callers in src/: what feeds the GC.
 */
import { parseArgs } from "node:util";
import { type Flow, runCell } from "./load.ts";
import { RESOURCE, SCOPE, setUpOurs } from "./ours.ts";
import { allowedCpus } from "./procs.ts";
import { tokensToIntrospect } from "./preflight.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    flow: { type: "string", default: "b" },
    concurrency: { type: "string", default: "32" },
    duration: { type: "string", default: "5" },
    top: { type: "string", default: "30" },
    agents: { type: "string", default: "64" },
    out: { type: "string", default: "bench/results" },
    heap: { type: "boolean", default: false },
  },
});
const flow = flags.flow as Flow;
const concurrency = Number(flags.concurrency);
const durationS = Number(flags.duration);
const [serverCpu, loadCpu] = await allowedCpus();
const INSPECT_PORT = 9339;

await Deno.mkdir(flags.out, { recursive: true });
const tmpDir = await Deno.makeTempDir({ dir: flags.out, prefix: "profile-" });
const ours = await setUpOurs({
  db: `${tmpDir}/ours.db`,
  cpu: serverCpu,
  agents: Number(flags.agents),
  denoFlags: [`--inspect=127.0.0.1:${INSPECT_PORT}`],
});

/** A minimal CDP client: one request at a time, answers matched by id. */
// deno-lint-ignore no-explicit-any
type Cdp = (method: string, params?: unknown) => Promise<any>;

async function connectInspector(): Promise<Cdp> {
  const [target] =
    await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json/list`)).json();
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.id !== undefined) {
      waiting.get(message.id)?.(message.result ?? message.error);
    }
  };
  return (method, params = {}) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Buckets a frame by what it is doing; the first matching rule wins. */
const CATEGORIES: [string, (f: ProfileNode["callFrame"]) => boolean][] = [
  [
    "(idle)",
    (f) => f.functionName === "(idle)" || f.functionName === "(program)",
  ],
  ["(gc)", (f) => f.functionName === "(garbage collector)"],
  ["ed25519", (f) => /ed25519|op_crypto/.test(f.functionName)],
  // exec runs BEGIN/COMMIT/SAVEPOINT: the COMMIT's fsync is spent here.
  [
    "sqlite",
    (f) =>
      /sqlite/i.test(f.url) ||
      /^(run|get|all|exec|prepare|iterate)$/.test(f.functionName),
  ],
  ["json", (f) => /^(parse|stringify)$/.test(f.functionName) && f.url === ""],
  [
    "base64/utf8",
    (f) => /base64|atob|btoa|op_encod|encode|decode|utf8/i.test(f.functionName),
  ],
  [
    "url/form parsing",
    (f) => /op_url|URLSearchParams|ext:deno_url/.test(f.functionName + f.url),
  ],
  [
    "http (Deno.serve)",
    (f) =>
      /ext:deno_http|ext:deno_fetch|ext:deno_web|op_http/.test(
        f.url + f.functionName,
      ),
  ],
  [
    "timers/promises",
    (f) => /timers|Timeout|Immediate|promise/i.test(f.url + f.functionName),
  ],
  ["auth4agent", (f) => f.url.includes("/src/")],
  ["npm", (f) => f.url.includes("/npm/")],
  ["runtime (other)", () => true],
];

const cdp = await connectInspector();
await cdp("Profiler.enable");
await cdp("Profiler.setSamplingInterval", { interval: 100 });
const tokens = flow === "c"
  ? await tokensToIntrospect(
    {
      name: "auth4agent",
      origin: `http://127.0.0.1:${ours.port}`,
      issuer: ours.issuer,
      tokenPath: ours.paths.token,
      introspectPath: ours.paths.introspect,
      jwksPath: "/.well-known/jwks.json",
    },
    ours.agents,
    { scope: SCOPE, resource: RESOURCE },
    256,
  )
  : undefined;
if (flags.heap) {
  await cdp("HeapProfiler.enable");
  await cdp("HeapProfiler.startSampling", {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
} else {
  await cdp("Profiler.start");
}
const cell = await runCell({
  target: {
    name: "auth4agent",
    pid: ours.process.pid,
    port: ours.port,
    audience: ours.issuer,
    tokenPath: ours.paths.token,
    introspectPath: ours.paths.introspect,
    challengePath: ours.paths.challenge,
  },
  flow,
  concurrency,
  rep: 1,
  warmupS: 1,
  durationS,
  poolSize: 15_000 * (durationS + 1),
  agents: ours.agents,
  scope: SCOPE,
  resource: RESOURCE,
  tokens,
  loadCpu,
  tmpDir,
});
/** Operations in the sampled time, warm-up included (the profiler saw it). */
const sampledOps = Math.max(1, cell.ok * (durationS + 1) / durationS);
if (flags.heap) {
  const { profile } = await cdp("HeapProfiler.stopSampling");
  await ours.stop();
  await Deno.remove(tmpDir, { recursive: true });
  printAllocations(profile.head, sampledOps, Number(flags.top));
  Deno.exit(0);
}
const { profile } = await cdp("Profiler.stop");
await ours.stop();

const nodes = new Map<number, ProfileNode>(
  profile.nodes.map((n: ProfileNode) => [n.id, n]),
);
const selfUs = new Map<number, number>();
profile.samples.forEach((id: number, i: number) => {
  selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const byCategory = new Map<string, number>();
const byFunction = new Map<string, number>();
let total = 0;
for (const [id, us] of selfUs) {
  const frame = nodes.get(id)!.callFrame;
  const category = CATEGORIES.find(([, test]) => test(frame))![0];
  byCategory.set(category, (byCategory.get(category) ?? 0) + us);
  const name = `${frame.functionName || "(anonymous)"} ${
    frame.url.replace(/^.*\/(src|npm)\//, "$1/")
  }:${frame.lineNumber + 1}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + us);
  total += us;
}
const busy = total - (byCategory.get("(idle)") ?? 0);
const perOp = (us: number) => (us / sampledOps).toFixed(1);
console.log(
  `flow ${flow}, ${concurrency} connections: ${
    cell.perSecond.toFixed(0)
  } ops/s, p99 ${cell.p99Ms.toFixed(2)} ms, failed ${cell.failed}`,
);
console.log(
  `sampled ${(total / 1e6).toFixed(2)} s, busy ${(busy / 1e6).toFixed(2)} s\n`,
);
console.log("category                  share of busy   µs per op");
for (const [category, us] of [...byCategory].sort((a, b) => b[1] - a[1])) {
  if (category === "(idle)") continue;
  console.log(
    `${category.padEnd(26)}${(100 * us / busy).toFixed(1).padStart(8)} %${
      perOp(us).padStart(12)
    }`,
  );
}
console.log("\ntop functions (self time)");
for (
  const [name, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(
    0,
    Number(flags.top),
  )
) {
  console.log(`${(100 * us / busy).toFixed(1).padStart(6)} %  ${name}`);
}
const file = `${flags.out}/profile-${flow}-${concurrency}-${
  new Date().toISOString().replaceAll(":", "-")
}.cpuprofile`;
await Deno.writeTextFile(file, JSON.stringify(profile));
await Deno.remove(tmpDir, { recursive: true });
console.log(`\nraw profile: ${file}`);

interface HeapNode {
  callFrame: ProfileNode["callFrame"];
  selfSize: number;
  children: HeapNode[];
}

/** Bytes allocated per operation by function, with its two nearest callers in src/. */
function printAllocations(head: HeapNode, ops: number, top: number): void {
  const bytes = new Map<string, number>();
  let total = 0;
  const visit = (node: HeapNode, stack: string[]) => {
    const frame = node.callFrame;
    const name = `${frame.functionName || "(anonymous)"} ${
      frame.url.replace(/^.*\/(src|npm)\//, "$1/")
    }:${frame.lineNumber + 1}`;
    const here = [...stack, name];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const callers = here.slice(0, -1).filter((f) => f.includes("src/"))
        .slice(-2).reverse().join(" < ");
      const key = callers ? `${name}  <  ${callers}` : name;
      bytes.set(key, (bytes.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) visit(child, here);
  };
  visit(head, []);
  console.log(
    `${ops.toFixed(0)} operations sampled, ${
      (total / ops).toFixed(0)
    } bytes allocated per operation\n`,
  );
  console.log("bytes/op  allocated by  <  nearest callers in src/");
  for (
    const [key, size] of [...bytes].sort((a, b) => b[1] - a[1]).slice(0, top)
  ) {
    console.log(`${(size / ops).toFixed(0).padStart(8)}  ${key}`);
  }
}
