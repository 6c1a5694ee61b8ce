/**
 * Every command, registered from one list, and the program that parses them.
 * A command file exports `register(program, run)`; `run` builds the command's
 * context from the global options and runs its body.
 */
import { Command, type CommandUnknownOpts } from "@commander-js/extra-typings";
import { VERSION } from "../version.ts";
import {
  CommandContext,
  type CommandIO,
  type GlobalOptions,
} from "./context.ts";
import * as agentScopes from "./agent_scopes.ts";
import * as audit from "./audit.ts";
import * as did from "./did.ts";
import * as dpopProof from "./dpop_proof.ts";
import * as health from "./health.ts";
import * as init from "./init.ts";
import * as issue from "./issue.ts";
import * as registerCommand from "./register.ts";
import * as revoke from "./revoke.ts";
import * as rotateKey from "./rotate_key.ts";
import * as serve from "./serve.ts";
import * as setServer from "./set_server.ts";
import * as verify from "./verify.ts";
import * as verifyOperator from "./verify_operator.ts";
import * as whoami from "./whoami.ts";
import * as workload from "./workload.ts";

export type Run = (
  command: CommandUnknownOpts,
  body: (ctx: CommandContext) => Promise<void>,
) => Promise<void>;

const COMMANDS = [
  init,
  registerCommand,
  verifyOperator,
  agentScopes,
  workload,
  issue,
  dpopProof,
  verify,
  revoke,
  rotateKey,
  did,
  health,
  whoami,
  setServer,
  serve,
  audit,
];

export function buildProgram(io: CommandIO): Command {
  const program = new Command()
    .name("auth4agent")
    .description(
      "Identity and short-lived, scoped credentials for AI agents and machine services.",
    )
    .version(VERSION)
    .option(
      "--home <dir>",
      "home folder (default $AUTH4AGENT_HOME or ~/.auth4agent)",
    )
    .option("--json", "print data as JSON (errors too)")
    .option("--debug", "show stack traces of errors")
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
    });
  const run: Run = async (command, body) => {
    await body(
      new CommandContext(io, command.optsWithGlobals() as GlobalOptions),
    );
  };
  for (const command of COMMANDS) command.register(program, run);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}
