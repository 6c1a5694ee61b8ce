/**
 * Crash testing the real server: `auth4agent serve` as a subprocess that can
 * be killed with SIGKILL (no shutdown, no flush: the kernel just ends it),
 * plus the small tools the crash test's load needs — raw form posts that
 * tell "no answer" apart from "an answer", and a fetch that sends requests
 * for a fixed issuer identifier to whichever server process is running now.
 */
import { type ServerProcess, startServerProcess } from "./process.ts";
/** A server that can be killed with SIGKILL as well as stopped. */
export type KillableServer = ServerProcess;

/** Starts `auth4agent serve --host 127.0.0.1 --port 0 <args>` and waits until it listens. */
export function spawnServer(args: string[]): Promise<KillableServer> {
  return startServerProcess(["--host", "127.0.0.1", ...args]);
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
