/**
 * The auth4agent executable: the CLI of agents and operators and the issuer
 * (`auth4agent serve`). The only place that exits; exit codes in README.md.
 */
import { CommanderError } from "commander";
import { buildProgram } from "./src/commands/registry.ts";
import {
  type CommandContext,
  type CommandIO,
  jsonText,
  visible,
} from "./src/commands/context.ts";
import { Auth4AgentError, EXIT } from "./src/core/errors.ts";

/** Set by the `auth4agent` and `serve` tasks of deno.json: the folder the task was typed in. */
const TASK_CWD = "AUTH4AGENT_TASK_CWD";

const PROCESS_IO: CommandIO = {
  stdout: (text: string) =>
    void Deno.stdout.writeSync(new TextEncoder().encode(text)),
  stderr: (text: string) =>
    void Deno.stderr.writeSync(new TextEncoder().encode(text)),
  env: (name: string) => Deno.env.get(name),
  now: () => new Date(),
  fetch,
};

/** Runs the CLI on `args`; the exit code. Tests pass their own `io`. */
export async function main(
  args: string[],
  io: CommandIO = PROCESS_IO,
): Promise<number> {
  const json = args.includes("--json");
  const debug = args.includes("--debug");
  try {
    await buildProgram(io).parseAsync(args, { from: "user" });
    return EXIT.ok;
  } catch (error) {
    return reportError(error, { io, json, debug });
  }
}

export function reportError(
  error: unknown,
  { io, json, debug }: {
    io: CommandContext["io"];
    json: boolean;
    debug: boolean;
  },
): number {
  if (error instanceof CommanderError) {
    // Help and --version exit through here with code 0; usage errors were printed already.
    return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  }
  const known = error instanceof Auth4AgentError;
  const { code, message, exit } = known
    ? { code: error.code, message: error.message, exit: error.exitCode }
    : {
      code: "ERR_INTERNAL",
      message: `internal error: ${(error as Error)?.message ?? String(error)}`,
      exit: EXIT.internal,
    };
  if (json) {
    io.stderr(jsonText({ error: { code, message } }) + "\n");
  } else {
    io.stderr(`error: ${visible(message)} (${code})\n`);
  }
  if (debug || !known) io.stderr(`${stackText(error)}\n`);
  return exit;
}

/** The stack for --debug: a frame a line, the message escaped as one value. */
function stackText(error: unknown): string {
  const stack = (error as Error)?.stack ?? "";
  const message = String((error as Error)?.message ?? "");
  const lines = (text: string) => text.split("\n").map(visible).join("\n");
  const at = message ? stack.indexOf(message) : -1;
  if (at < 0) return lines(stack);
  return lines(stack.slice(0, at)) + visible(message) +
    lines(stack.slice(at + message.length));
}

if (import.meta.main) {
  // `deno task auth4agent|serve` runs in the repository folder; the task hands
  // over the folder it was typed in (deno.json: AUTH4AGENT_TASK_CWD, from
  // INIT_CWD), so relative paths (--home, --db, key files) are the user's.
  // Only our tasks set it: an INIT_CWD inherited from some npm script never
  // moves a plain `deno run` or the compiled binary.
  const typedIn = Deno.env.get(TASK_CWD);
  Deno.env.delete(TASK_CWD);
  if (typedIn) {
    try {
      Deno.chdir(typedIn);
    } catch (error) {
      console.error(`error: cannot work in ${typedIn}: ${error}`);
      Deno.exit(EXIT.usage);
    }
  }
  Deno.exit(await main(Deno.args));
}
