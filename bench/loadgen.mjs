/**
 * The load generator, the same for auth4agent and the peer: Node's own
 * `node:http` client with a keep-alive Agent (HTTP/1.1, maxSockets =
 * concurrency), closed loop — `concurrency` workers, each sending its next
 * request as soon as the last one was answered and checked.
 *
 * Run by bench/load.ts, pinned to its own CPU:
 *   node bench/loadgen.mjs JOB.json
 * It prints JSON lines on stdout: {"event":"ready"} after pre-signing,
 * {"event":"measure-start"} and {"event":"measure-end"} around the timed
 * window, and finally {"event":"result", …}. At the edges of the window it
 * reads the server's CPU time (utime + stime of /proc/PID/stat) and peak
 * RSS (VmHWM of /proc/PID/status, reset at the start through clear_refs).
 *
 * Flows:
 *   a: POST challenge {client_id} → sign the nonce into a client assertion
 *      (node:crypto Ed25519, the fastest signer here; its time is reported
 *      as signMs) → POST token. One sample = one token = two round trips.
 *   b: POST token with a client assertion signed BEFORE the timed run
 *      (fresh jti each), `client_credentials` + `private_key_jwt`.
 *   c: POST introspection of a valid token, authenticated the same way.
 * Every response is checked (status and body shape); failures are counted
 * by status with a few bodies kept as samples. With `traceFile` in the job,
 * each operation of the timed window is also written there: its start (ms
 * after the window opened) and latency (ms), for bench/tail.ts.
 */
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import process from "node:process";

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const HEADER = Buffer.from(JSON.stringify({ alg: "EdDSA", typ: "JWT" }))
  .toString("base64url");

const job = JSON.parse(readFileSync(process.argv[2], "utf8"));
const agents = job.agents.map((agent) => ({
  clientId: agent.clientId,
  key: createPrivateKey(agent.pkcs8Pem),
  encodedId: encodeURIComponent(agent.clientId),
  challengeBody: JSON.stringify({ client_id: agent.clientId }),
}));

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

/** A compact JWS (EdDSA) client assertion: iss = sub = client_id, aud, jti, iat, exp (+ nonce). */
function assertion(agent, nonce) {
  const iat = Math.floor(Date.now() / 1000);
  const claims = {
    iss: agent.clientId,
    sub: agent.clientId,
    aud: job.audience,
    jti: randomBytes(16).toString("base64url"),
    iat,
    exp: iat + job.assertionLifetimeS,
  };
  if (nonce !== undefined) claims.nonce = nonce;
  const input = HEADER + "." +
    Buffer.from(JSON.stringify(claims)).toString("base64url");
  return input + "." +
    sign(null, Buffer.from(input), agent.key).toString("base64url");
}

function authParams(agent, jwt) {
  return `client_id=${agent.encodedId}&client_assertion_type=${
    encodeURIComponent(ASSERTION_TYPE)
  }&client_assertion=${jwt}`;
}

const tokenExtra = `&scope=${encodeURIComponent(job.scope)}&resource=${
  encodeURIComponent(job.resource)
}`;

function tokenBody(agent, jwt) {
  return `grant_type=client_credentials&${authParams(agent, jwt)}${tokenExtra}`;
}

function introspectBody(agent, jwt, token) {
  return `token=${encodeURIComponent(token)}&token_type_hint=access_token&${
    authParams(agent, jwt)
  }`;
}

// ---- pre-signing (before any timed request) ----
const presignStart = performance.now();
const pool = [];
if (job.flow === "b" || job.flow === "c") {
  for (let i = 0; i < job.poolSize; i++) {
    const agent = agents[i % agents.length];
    const jwt = assertion(agent);
    pool.push(
      job.flow === "b"
        ? tokenBody(agent, jwt)
        : introspectBody(agent, jwt, job.tokens[i % job.tokens.length]),
    );
  }
}
const presignMs = performance.now() - presignStart;
emit({ event: "ready", presignMs, poolSize: pool.length });

// ---- HTTP ----
const httpAgent = new http.Agent({
  keepAlive: true,
  maxSockets: job.concurrency,
  maxFreeSockets: job.concurrency,
});

function post(path, body, contentType) {
  return new Promise((resolve) => {
    const request = http.request({
      host: job.host,
      port: job.port,
      path,
      method: "POST",
      agent: httpAgent,
      headers: {
        "content-type": contentType,
        "content-length": Buffer.byteLength(body),
        accept: "application/json",
      },
    }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () =>
        resolve({
          status: response.statusCode,
          body: Buffer.concat(chunks).toString("utf8"),
        }));
      response.on(
        "error",
        (error) =>
          resolve({ status: `error:${error.code ?? error.message}`, body: "" }),
      );
    });
    request.on(
      "error",
      (error) =>
        resolve({ status: `error:${error.code ?? error.message}`, body: "" }),
    );
    request.setTimeout(
      REQUEST_TIMEOUT_MS,
      () => request.destroy(new Error("timeout")),
    );
    request.end(body);
  });
}

const FORM = "application/x-www-form-urlencoded";
/** A request unanswered this long counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;
// Bounded in time whatever happens: a hung server cannot keep us running.
setTimeout(() => {
  process.stderr.write("load generator: watchdog expired\n");
  process.exit(3);
}, (job.warmupS + job.durationS) * 1000 + 60_000).unref();

function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A token response is good when it is 200 and carries a JWT (three parts) Bearer token. */
function goodToken(response) {
  if (response.status !== 200) return false;
  const body = parse(response.body);
  return typeof body?.access_token === "string" &&
    body.access_token.split(".").length === 3 &&
    /^bearer$/i.test(body.token_type);
}

// ---- accounting ----
let measuring = false;
let windowStart = 0;
let windowEnd = Infinity;
let ok = 0;
let failed = 0;
let httpRequests = 0;
let signMs = 0;
const failures = {};
const failureSamples = [];
const histogram = new Map(); // round(100·ln(µs)) → count: 1% buckets
const trace = []; // start ms, latency ms, … (only with job.traceFile)

/** Failures in the warm-up count too: nothing may fail, ever. */
function fail(status, body) {
  failed++;
  failures[status] = (failures[status] ?? 0) + 1;
  if (failureSamples.length < 5) {
    failureSamples.push({ status, body: String(body).slice(0, 300) });
  }
}

function record(startedAt, requests) {
  const now = performance.now();
  if (!measuring || startedAt < windowStart || now > windowEnd) return;
  ok++;
  httpRequests += requests;
  const micros = Math.max(1, (now - startedAt) * 1000);
  if (job.traceFile) {
    trace.push(
      +(startedAt - windowStart).toFixed(3),
      +(micros / 1000).toFixed(3),
    );
  }
  const bucket = Math.round(100 * Math.log(micros));
  histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
}

// ---- the flows ----
let next = 0;
let stopped = false;
let exhaustedAt;

async function flowA(agent) {
  const startedAt = performance.now();
  const challenge = await post(
    job.challengePath,
    agent.challengeBody,
    "application/json",
  );
  const nonce = challenge.status === 201
    ? parse(challenge.body)?.nonce
    : undefined;
  if (typeof nonce !== "string") return fail(challenge.status, challenge.body);
  const signStart = performance.now();
  const jwt = assertion(agent, nonce);
  if (measuring && windowEnd === Infinity) {
    signMs += performance.now() - signStart;
  }
  const response = await post(job.tokenPath, tokenBody(agent, jwt), FORM);
  if (!goodToken(response)) return fail(response.status, response.body);
  record(startedAt, 2);
}

async function flowB(body) {
  const startedAt = performance.now();
  const response = await post(job.tokenPath, body, FORM);
  if (!goodToken(response)) return fail(response.status, response.body);
  record(startedAt, 1);
}

async function flowC(body) {
  const startedAt = performance.now();
  const response = await post(job.introspectPath, body, FORM);
  if (response.status !== 200 || parse(response.body)?.active !== true) {
    return fail(response.status, response.body);
  }
  record(startedAt, 1);
}

// ---- the server's figures, read from /proc at the edges of the window ----
/** The server's user + system CPU time (all threads), ms. */
function serverCpuMs() {
  const stat = readFileSync(`/proc/${job.serverPid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 1000 / job.clockTicks;
}

/** The server's peak RSS (VmHWM), MiB. */
function serverPeakMb() {
  const status = readFileSync(`/proc/${job.serverPid}/status`, "utf8");
  return Number(/^VmHWM:\s*(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** Resets the server's VmHWM to its current RSS (Linux ≥ 4.0); false if refused. */
function resetServerPeak() {
  try {
    writeFileSync(`/proc/${job.serverPid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

let cpuStart;
let cpuWindow = { user: 0, system: 0 };
let serverCpuStart = 0;
let serverCpuWindow = 0;
let serverPeak = NaN;
let peakIsWindowed = false;

function startWindow() {
  peakIsWindowed = job.resetPeak ? resetServerPeak() : false;
  serverCpuStart = serverCpuMs();
  measuring = true;
  windowStart = performance.now();
  cpuStart = process.cpuUsage();
  emit({ event: "measure-start" });
}

/** Ends the timed window: requests still in flight finish but are not counted. */
function endWindow() {
  stopped = true;
  if (!measuring || windowEnd !== Infinity) return;
  windowEnd = performance.now();
  cpuWindow = process.cpuUsage(cpuStart);
  serverCpuWindow = serverCpuMs() - serverCpuStart;
  serverPeak = serverPeakMb();
  emit({ event: "measure-end" });
}

async function worker() {
  while (!stopped) {
    const i = next++;
    // Bounded in count too: flows (b) and (c) by their pre-signed pool,
    // flow (a) by the same number of tokens.
    if (i >= job.poolSize) {
      exhaustedAt ??= performance.now();
      endWindow();
      return;
    }
    if (job.flow === "a") await flowA(agents[i % agents.length]);
    else await (job.flow === "b" ? flowB(pool[i]) : flowC(pool[i]));
  }
}

const timers = [
  setTimeout(startWindow, job.warmupS * 1000),
  setTimeout(endWindow, (job.warmupS + job.durationS) * 1000),
];
await Promise.all(Array.from({ length: job.concurrency }, worker));
for (const timer of timers) clearTimeout(timer);
httpAgent.destroy();
if (job.traceFile) {
  writeFileSync(
    job.traceFile,
    JSON.stringify({
      flow: job.flow,
      concurrency: job.concurrency,
      windowS: (windowEnd - windowStart) / 1000,
      ops: trace,
    }),
  );
}

emit({
  event: "result",
  flow: job.flow,
  concurrency: job.concurrency,
  ok,
  failed,
  failures,
  failureSamples,
  httpRequests,
  windowS: measuring ? (windowEnd - windowStart) / 1000 : 0,
  histogram: [...histogram.entries()],
  poolSize: job.poolSize,
  poolExhausted: exhaustedAt !== undefined,
  presignMs,
  signMs,
  generatorCpuMs: (cpuWindow.user + cpuWindow.system) / 1000,
  serverCpuMs: serverCpuWindow,
  serverPeakRssMb: serverPeak,
  peakIsWindowed,
});
