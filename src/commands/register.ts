/** `auth4agent register operator` and `auth4agent register agent [--operator-id ID]`. */
import type { Command } from "@commander-js/extra-typings";
import { parseAgentDid } from "../core/did.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { OPERATOR_ID } from "../serve/clients.ts";
import type { CommandContext } from "./context.ts";
import type { Run } from "./registry.ts";

/**
 * The operator id of the issuer's answer: op_ and 32 hex digits, or refused.
 * It goes into operator.json or agent.json, and from there into request paths.
 */
function issuerOperatorId(value: unknown): string {
  if (typeof value !== "string" || !OPERATOR_ID.test(value)) {
    fail(
      "ERR_ISSUER_RESPONSE",
      `the issuer answered an operator_id that is not op_ and 32 hex digits: ${
        JSON.stringify(value) ?? "none"
      }`,
    );
  }
  return value;
}

/** The DID of the issuer's answer: a did:agent DID, or refused. */
function issuerDid(value: unknown): string {
  try {
    return parseAgentDid(value as string).did;
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_ISSUER_RESPONSE",
      `the issuer answered a did that is not a did:agent DID: ${
        JSON.stringify(value) ?? "none"
      }`,
      { cause },
    );
  }
}

export function register(program: Command, run: Run): void {
  const registerCmd = program.command("register").description(
    "register this home's operator or agent with the issuer",
  );

  registerCmd.command("operator")
    .description("register the operator key and domain; prints the operator id")
    .action((_options, command) =>
      run(command, (ctx) => ctx.home.withLock(() => registerOperator(ctx)))
    );

  registerCmd.command("agent")
    .description(
      "register the agent key and DID under an operator of the same domain",
    )
    .option(
      "--operator-id <id>",
      "the operator id printed by `register operator` (default: this home's operator, if it holds one)",
    )
    .action((options, command) =>
      run(
        command,
        (ctx) =>
          ctx.home.withLock(() => registerAgent(ctx, options.operatorId)),
      )
    );
}

/**
 * Under the home's lock, held through the issuer's answer: operator.json is
 * read and rewritten with no other identity change in between.
 */
async function registerOperator(ctx: CommandContext): Promise<void> {
  const file = await ctx.home.requireOperator();
  if (file.operator_id) {
    fail(
      "ERR_OPERATOR_EXISTS",
      `already registered as ${file.operator_id}`,
    );
  }
  const key = await ctx.home.readKey("operator");
  // The issuer must call itself by the home's server URL (RFC 8414 §3.3):
  // better refused now than at the first token.
  await ctx.client(file.server).metadata();
  const status = await ctx.client(file.server).registerOperator(
    file.domain,
    {
      privateKey: key.privateKey,
      publicJwk: key.publicJwk,
    },
  );
  const operatorId = issuerOperatorId(status.operator_id);
  await ctx.home.writeJson("operator.json", {
    ...file,
    operator_id: operatorId,
  }, true);
  ctx.print({
    operator_id: operatorId,
    domain: status.domain,
    verified: status.verified,
  }, [
    `Operator registered: ${operatorId} (${status.domain}, not yet verified)`,
    "Next: auth4agent verify-operator instructions",
  ]);
}

/** Under the home's lock, as registerOperator. */
async function registerAgent(
  ctx: CommandContext,
  operatorIdFlag: string | undefined,
): Promise<void> {
  const file = await ctx.home.requireAgent();
  const operatorIdGiven = operatorIdFlag ??
    (await ctx.home.readOperator())?.operator_id;
  if (operatorIdGiven === undefined) {
    fail(
      "ERR_USAGE",
      "give --operator-id: the id `register operator` printed in the operator's home",
    );
  }
  const key = await ctx.home.readKey("agent");
  await ctx.client(file.server).metadata(); // as for operators
  const status = await ctx.client(file.server).registerAgent(
    file.did,
    operatorIdGiven,
    {
      privateKey: key.privateKey,
      publicJwk: key.publicJwk,
    },
  );
  const did = issuerDid(status.did);
  const operatorId = issuerOperatorId(status.operator_id);
  if (did !== file.did || operatorId !== operatorIdGiven) {
    fail(
      "ERR_ISSUER_RESPONSE",
      `the issuer answered the registration of ${did} under ${operatorId}, not of ${file.did} under ${operatorIdGiven}`,
    );
  }
  await ctx.home.writeJson("agent.json", {
    ...file,
    operator_id: operatorId,
  }, true);
  ctx.print(status, [
    `Agent registered: ${did} under operator ${operatorId}`,
    `Next, in the operator's home: auth4agent agent-scopes set --agent ${did} --scopes SCOPES`,
  ]);
}
