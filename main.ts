/**
 * The auth4agent executable: the CLI of agents and operators and the issuer
 * (`auth4agent serve`). The only place that exits; exit codes in README.md.
 */
import { CommanderError } from "commander";
import { buildProgram } from "./src/commands/registry.ts";
import type { CommandContext } from "./src/commands/context.ts";
import { Auth4AgentError, EXIT } from "./src/core/errors.ts";

export async function main(args: string[]): Promise<number> {
  const io = {
    stdout: (text: string) =>
      void Deno.stdout.writeSync(new TextEncoder().encode(text)),
    stderr: (text: string) =>
      void Deno.stderr.writeSync(new TextEncoder().encode(text)),
    env: (name: string) => Deno.env.get(name),
    now: () => new Date(),
    fetch,
  };
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
  const code = known ? error.code : "ERR_INTERNAL";
  const message = known
    ? error.message
    : `internal error: ${(error as Error)?.message ?? String(error)}`;
  if (json) {
    io.stderr(JSON.stringify({ error: { code, message } }) + "\n");
  } else {
    io.stderr(`error: ${message} (${code})\n`);
  }
  if (debug || !known) io.stderr(`${(error as Error)?.stack ?? ""}\n`);
  return known ? error.exitCode : EXIT.internal;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
