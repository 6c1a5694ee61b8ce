/**
 * The auth4agent executable: the CLI of agents and operators and the issuer
 * (`auth4agent serve`). The only place that exits; exit codes in README.md.
 */
import { CommanderError } from "commander";
import { buildProgram } from "./src/commands/registry.ts";
import {
  type CommandContext,
  fromIssuer,
  jsonText,
  visible,
} from "./src/commands/context.ts";
import {
  Auth4AgentError,
  type ErrorCode,
  errorInfo,
  EXIT,
  type ExitCode,
} from "./src/core/errors.ts";

/**
 * The codes an issuer sends (docs/api.md, "Error codes"): all but those
 * marked _client_ and ERR_CONFIG, which stops `serve` before it answers.
 */
export const ISSUER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "ERR_INVALID_REQUEST",
  "ERR_BODY_TOO_LARGE",
  "ERR_UNSUPPORTED_MEDIA_TYPE",
  "ERR_REQUEST_TIMEOUT",
  "ERR_NOT_FOUND",
  "ERR_METHOD_NOT_ALLOWED",
  "ERR_INVALID_DID",
  "ERR_INVALID_DOMAIN",
  "ERR_INVALID_SCOPE_SYNTAX",
  "ERR_INVALID_KEY",
  "ERR_UNSUPPORTED_GRANT_TYPE",
  "ERR_RATE_LIMITED",
  "ERR_INVALID_CLIENT",
  "ERR_BAD_SIGNATURE",
  "ERR_ASSERTION_INVALID",
  "ERR_ASSERTION_REPLAYED",
  "ERR_REQUEST_SIGNATURE_INVALID",
  "ERR_NONCE_INVALID",
  "ERR_CHALLENGE_INVALID",
  "ERR_OPERATOR_NOT_FOUND",
  "ERR_OPERATOR_EXISTS",
  "ERR_OPERATOR_NOT_VERIFIED",
  "ERR_DOMAIN_TAKEN",
  "ERR_DOMAIN_MISMATCH",
  "ERR_DNS_RECORD_MISSING",
  "ERR_DNS_RECORD_MISMATCH",
  "ERR_DNS_LOOKUP_FAILED",
  "ERR_AGENT_SUSPENDED",
  "ERR_AGENT_REVOKED",
  "ERR_AGENT_NOT_FOUND",
  "ERR_AGENT_EXISTS",
  "ERR_FORBIDDEN",
  "ERR_NOT_TOKEN_HOLDER",
  "ERR_SCOPE_NOT_GRANTED",
  "ERR_INVALID_AUDIENCE",
  "ERR_INTERNAL",
]);

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
  const { code, message, exit } = known ? outcome(error) : {
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

/**
 * What to report of an error: its code, message and exit code. A code from a
 * server's answer counts only when issuers send it; another (ERR_USAGE,
 * ERR_HOME_MISSING, …) is a claim about this CLI that no server can make, so
 * the answer is one the CLI cannot use — ERR_ISSUER_RESPONSE, exit 4, as for
 * a code it does not know.
 */
function outcome(
  error: Auth4AgentError,
): { code: ErrorCode; message: string; exit: ExitCode } {
  if (
    ISSUER_CODES.has(error.code) || !fromIssuer(error) ||
    // The client's own word for an answer it cannot use.
    error.code === "ERR_ISSUER_RESPONSE"
  ) {
    return { code: error.code, message: error.message, exit: error.exitCode };
  }
  return {
    code: "ERR_ISSUER_RESPONSE",
    message:
      `the issuer answered with ${error.code}, a code issuers do not send: ${error.message}`,
    exit: errorInfo("ERR_ISSUER_RESPONSE").exit,
  };
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
