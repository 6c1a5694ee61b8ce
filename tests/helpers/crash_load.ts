/**
 * Crash testing the real server: `auth4agent serve` as a subprocess that can
 * be killed with SIGKILL (no shutdown, no flush: the kernel just ends it),
 * plus the small tools the crash test's load needs — raw form posts that
 * tell "no answer" apart from "an answer", and a fetch that sends requests
 * for a fixed issuer identifier to whichever server process is running now.
 *
 * Modelled on `startServerProcess` in process.ts, which only stops gracefully.
 */
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
];

export interface KillableServer {
  /** The issuer identifier the server announced (its `--issuer`). */
  issuer: string;
  /** Where it really listens: `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  pid: number;
  /** SIGKILL, then waits for the process to be gone; returns its status. */
  kill(): Promise<Deno.CommandStatus>;
  /** SIGTERM (graceful shutdown) and waits; returns the exit code. */
  stop(): Promise<number>;
  /** What the server logged (stderr) so far. */
  log(): string;
}

/** Starts `auth4agent serve --host 127.0.0.1 --port 0 <args>` and waits until it listens. */
export async function spawnServer(args: string[]): Promise<KillableServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...PERMISSIONS,
      MAIN,
      "serve",
      "--host",
      "127.0.0.1",
      "--port",
      "0",
      ...args,
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const listening = await (async () => {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      log += value;
      const line = log.split("\n").find((l) => l.includes('"msg":"listening"'));
      if (line) return JSON.parse(line) as { issuer: string; address: string };
    }
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    throw new Error(`server did not start:\n${log}`);
  })();
  // Keep draining stderr so the child never blocks on a full pipe.
  const drained = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        log += value;
      }
    } catch { /* the pipe broke with the process */ }
  })();
  const port = Number(listening.address.split(":").pop());
  const end = async (signal: Deno.Signal) => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
    const status = await child.status;
    await drained;
    return status;
  };
  return {
    issuer: listening.issuer,
    origin: `http://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    kill: () => end("SIGKILL"),
    stop: async () => (await end("SIGTERM")).code,
    log: () => log,
  };
}

/**
 * A fetch for IssuerClient: URLs under `issuer` (the fixed identifier, which
 * need not resolve) go to `origin()`, the server process running right now.
 */
export function fetchVia(issuer: string, origin: () => string): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(issuer)) {
      return Promise.reject(
        new Error(`unexpected URL outside the issuer: ${url}`),
      );
    }
    return fetch(origin() + url.slice(issuer.length), init);
  };
}

/** An HTTP answer (any status), as opposed to no answer at all. */
export interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/**
 * POSTs a form and reads the whole JSON answer. Rejects when no complete
 * answer arrived (connection refused or reset, body cut off): the outcome of
 * such a request is unknown.
 */
export async function postForm(
  url: string,
  params: Record<string, string>,
): Promise<Answer> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    },
    body: new URLSearchParams(params).toString(),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : {} };
}

/** Runs `work` over `items` with at most `limit` at a time; results in order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, worker),
  );
  return results;
}
