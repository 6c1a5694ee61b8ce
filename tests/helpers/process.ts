/**
 * Running the real program as a user would: the issuer as a subprocess on
 * 127.0.0.1 (port 0) with a temporary database, and CLI commands as
 * subprocesses with their own home folder.
 */
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
];

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `auth4agent <args>` (from source) with AUTH4AGENT_HOME = home. */
export async function cli(
  args: string[],
  options: { home: string; env?: Record<string, string> },
): Promise<CliResult> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...PERMISSIONS, MAIN, ...args],
    env: { AUTH4AGENT_HOME: options.home, NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Splits a shell-like command line (no quoting needed by our tests) into args, dropping `auth4agent`. */
export function argv(commandLine: string): string[] {
  const words = commandLine.trim().split(/\s+/);
  if (words[0] !== "auth4agent") {
    throw new Error(`not an auth4agent command: ${commandLine}`);
  }
  return words.slice(1);
}

export interface ServerProcess {
  /** The issuer identifier the server announced. */
  issuer: string;
  /** Where it really listens: `http://127.0.0.1:PORT`. */
  origin: string;
  port: number;
  pid: number;
  /** Sends SIGTERM and waits; returns the exit code. */
  stop(): Promise<number>;
  /** SIGKILL (no shutdown, no flush: the kernel just ends it), then waits; returns the status. */
  kill(): Promise<Deno.CommandStatus>;
  /** What the server logged (stderr) so far. */
  log(): string;
}

export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      ...PERMISSIONS,
      MAIN,
      "serve",
      "--port",
      "0",
      ...args,
    ],
    env: { NO_COLOR: "1", ...env },
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
    } catch { /* it exited by itself */ }
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
    stop: async () => (await end("SIGTERM")).code,
    kill: () => end("SIGKILL"),
    log: () => log,
  };
}
