/**
 * Processes of the benchmark: pinning to a CPU with `taskset` (util-linux),
 * starting servers that announce themselves with a JSON "listening" line on
 * stderr, and reading a process's CPU time and memory from /proc.
 */
import { spawnListening } from "../tests/helpers/process.ts";

/**
 * Deno gates reads of /proc/<pid>/… behind --allow-all, so /proc files are
 * read by `cat` (the load generator, under Node, reads the server's own
 * figures at the edges of its timed window: bench/loadgen.mjs).
 */
export async function readProc(path: string): Promise<string> {
  return (await run("cat", [path])).stdout;
}

/** The CPUs this process may run on (`Cpus_allowed_list`; `cat` inherits our affinity). */
export async function allowedCpus(): Promise<number[]> {
  const status = await readProc("/proc/self/status");
  const list = /^Cpus_allowed_list:\s*(.+)$/m.exec(status)?.[1] ?? "0";
  const cpus: number[] = [];
  for (const part of list.trim().split(",")) {
    const [from, to] = part.split("-").map(Number);
    for (let cpu = from!; cpu <= (to ?? from!); cpu++) cpus.push(cpu);
  }
  return cpus;
}

export async function hasCommand(name: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** `taskset -c CPU cmd args…` (taskset execs, so the pid is the command's), or the command alone. */
export function pinned(
  cpu: number | undefined,
  cmd: string,
  args: string[],
): { cmd: string; args: string[] } {
  if (cpu === undefined) return { cmd, args };
  return { cmd: "taskset", args: ["-c", String(cpu), cmd, ...args] };
}

let clockTicks: number | undefined;

/** Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat. */
export async function ticksPerSecond(): Promise<number> {
  if (clockTicks === undefined) {
    const out = await new Deno.Command("getconf", { args: ["CLK_TCK"] })
      .output().catch(() => undefined);
    clockTicks = Number(new TextDecoder().decode(out?.stdout).trim()) || 100;
  }
  return clockTicks;
}

export interface Memory {
  /** Resident set size now, MiB. */
  rssMb: number;
  /** Peak resident set size (VmHWM), MiB: since start or since resetPeak. */
  peakMb: number;
}

export async function memory(pid: number): Promise<Memory> {
  const status = await readProc(`/proc/${pid}/status`);
  const kb = (name: string) =>
    Number(new RegExp(`^${name}:\\s*(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

export interface Started {
  pid: number;
  /** The parsed "listening" line. */
  info: Record<string, unknown>;
  log(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

/** Spawns a server and waits for the JSON line with `"msg":"listening"` on stderr. */
export async function startListening(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<Started> {
  const { child, info, drained, log } = await spawnListening(cmd, args, {
    ...options,
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  let stopping: Promise<number> | undefined;
  return {
    pid: child.pid,
    info,
    log,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch { /* gone meanwhile */ }
        }, graceMs);
        const status = await child.status;
        clearTimeout(timer);
        await drained;
        return status.code;
      })();
      return stopping;
    },
  };
}

/** Runs a command to completion, throwing with its output when it fails. */
export async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ stdout: string; stderr: string }> {
  const output = await new Deno.Command(cmd, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const stdout = decoder.decode(output.stdout);
  const stderr = decoder.decode(output.stderr);
  if (!output.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited ${output.code}:\n${stdout}\n${stderr}`,
    );
  }
  return { stdout, stderr };
}
