/**
 * Running the real program as a user would: the issuer as a subprocess on
 * 127.0.0.1 (port 0) with a temporary database, and CLI commands as
 * subprocesses with their own home folder.
 */
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** The permissions of `deno task auth4agent` (deno.json). */
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys=uid",
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

export interface Listening {
  child: Deno.ChildProcess;
  /** The parsed `"msg":"listening"` line. */
  info: Record<string, unknown>;
  /** Resolves once stderr is closed (the process has ended). */
  drained: Promise<void>;
  /** What the process logged (stderr) so far; the last 500 kB of a long life. */
  log(): string;
}

/**
 * Spawns a server (ours: `serve`, or a bench server), waits for the JSON line
 * with `"msg":"listening"` on its stderr, and keeps draining stderr so the
 * child never blocks on a full pipe. A process that ends or stays silent
 * past `timeoutMs` before that line is killed, and the error carries its log.
 */
export async function spawnListening(
  cmd: string,
  args: string[],
  options: {
    cwd?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<Listening> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let info: Record<string, unknown> | undefined;
  while (!info && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    log += value;
    const line = log.split("\n").find((l) => l.includes('"msg":"listening"'));
    if (line) info = JSON.parse(line);
  }
  if (!info) {
    try {
      child.kill("SIGKILL");
    } catch { /* it exited by itself */ }
    await child.status;
    throw new Error(`${cmd} ${args.join(" ")} did not start:\n${log}`);
  }
  const drained = (async () => {
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        log += value;
        if (log.length > 1_000_000) log = log.slice(-500_000);
      }
    } catch { /* the pipe broke with the process */ }
  })();
  return { child, info, drained, log: () => log };
}

export async function startServerProcess(
  args: string[],
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const { child, info, drained, log } = await spawnListening(
    Deno.execPath(),
    [
      "run",
      "--quiet",
      ...PERMISSIONS,
      MAIN,
      "serve",
      "--port",
      "0",
      ...args,
    ],
    { env },
  );
  const listening = info as { issuer: string; address: string };
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
    log,
  };
}
