/**
 * `auth4agent revoke …`: revoke one token (RFC 7009, as its agent or the
 * operator of its domain), and the agent lifecycle as operator actions:
 * `agent` (permanent), `suspend`, `reactivate`, and `list`.
 */
import type { Command } from "@commander-js/extra-typings";
import { parseAgentDid } from "../core/did.ts";
import { fail } from "../core/errors.ts";
import { unverifiedIssuer } from "../core/jws.ts";
import type { CommandContext } from "./context.ts";
import { anyClientIdentity, operatorIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

interface RevokeOptions {
  token?: string;
  reason?: string;
}

async function revokeToken(
  ctx: CommandContext,
  options: RevokeOptions,
): Promise<void> {
  if (!options.token) fail("ERR_USAGE", "name the token with --token JWT");
  const identity = await anyClientIdentity(ctx);
  if (!identity) {
    fail(
      "ERR_HOME_MISSING",
      "revoking needs a registered agent or operator in this home folder",
    );
  }
  const client = ctx.client(identity.server);
  // RFC 7009 answers 200 for a token the issuer does not know: a token of
  // another issuer (one a federation peer gave) would look revoked here.
  const issuedBy = unverifiedIssuer(options.token);
  const { issuer } = await client.metadata();
  if (issuedBy !== undefined && issuedBy !== issuer) {
    fail(
      "ERR_USAGE",
      `the token was issued by ${issuedBy}, not by this home's issuer ${issuer} (which would answer as if it had revoked it): it is revoked at ${issuedBy}, by its agent if registered there, or by the operator of its domain there`,
    );
  }
  await client.revoke(
    options.token,
    identity.clientId,
    identity.privateKey,
    options.reason,
  );
  ctx.print({ revoked: true }, "Token revoked.");
}

async function changeStatus(
  ctx: CommandContext,
  action: "suspend" | "reactivate" | "revoke",
  didText: string,
  reason: string | undefined,
): Promise<void> {
  const did = parseAgentDid(didText).did;
  const { file, signer } = await operatorIdentity(ctx);
  const result = await ctx.client(file.server).changeAgentStatus(
    did,
    action,
    reason,
    signer,
  );
  const verb = {
    suspend: "suspended",
    reactivate: "reactivated",
    revoke: "revoked for good",
  }[action];
  ctx.print(
    result,
    `Agent ${did} ${verb}` +
      (result.tokens_revoked
        ? `; ${result.tokens_revoked} live token(s) revoked.`
        : "."),
  );
}

export function register(program: Command, run: Run): void {
  // `--token` and `--reason` live on `revoke` itself so that both
  // `revoke --token JWT` and `revoke token --token JWT` work.
  const revoke = program.command("revoke")
    .description(
      "revoke tokens; suspend, reactivate or revoke agents (operator)",
    )
    .option("--token <jwt>", "the token to revoke (revoke token)")
    .option("--reason <text>", "why, recorded in the audit trail")
    .action((options, command) =>
      run(command, (ctx) => revokeToken(ctx, options))
    );

  revoke.command("token")
    .description(
      "revoke one token, as its agent or as the operator of its domain (RFC 7009)",
    )
    .action((_options, command) =>
      run(
        command,
        (ctx) => revokeToken(ctx, command.optsWithGlobals() as RevokeOptions),
      )
    );

  // The agent lifecycle: one subcommand per operator action, named as in
  // the original CLI (`revoke agent --id`, `revoke suspend --agent-id`, …).
  const lifecycle = [
    {
      name: "agent",
      action: "revoke",
      flag: "--id <did>",
      description:
        "revoke an agent for good: no token again, live tokens inactive, DID never re-registered",
    },
    {
      name: "suspend",
      action: "suspend",
      flag: "--agent-id <did>",
      description:
        "suspend an agent: no token while suspended, live tokens inactive at once",
    },
    {
      name: "reactivate",
      action: "reactivate",
      flag: "--agent-id <did>",
      description: "reactivate a suspended agent (its old tokens stay revoked)",
    },
  ] as const;
  for (const { name, action, flag, description } of lifecycle) {
    revoke.command(name)
      .description(description)
      .requiredOption(flag, "the agent DID")
      .action((_options, command) => {
        const { id, agentId, reason } = command.optsWithGlobals() as
          & RevokeOptions
          & { id?: string; agentId?: string };
        return run(
          command,
          (ctx) => changeStatus(ctx, action, (id ?? agentId)!, reason),
        );
      });
  }

  revoke.command("list")
    .description(
      "revoked and suspended agents and revoked tokens of this operator's domain",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const { file, signer } = await operatorIdentity(ctx);
        const list = await ctx.client(file.server).revocations(
          file.operator_id,
          signer,
        );
        const lines = [`Revocations in ${list.domain}:`];
        if (list.agents.length === 0 && list.tokens.length === 0) {
          lines.push("  none");
        }
        for (const agent of list.agents) {
          lines.push(
            `  agent ${agent.did}  ${agent.status}  ${
              agent.status_changed_at ?? ""
            }  by ${agent.status_changed_by ?? "?"}` +
              (agent.reason ? `  (${agent.reason})` : ""),
          );
        }
        for (const token of list.tokens) {
          lines.push(
            `  token ${token.jti}  of ${token.client_id}${
              token.sub ? ` for ${token.sub}` : ""
            }  revoked ${token.revoked_at}  by ${token.revoked_by ?? "?"}` +
              (token.reason ? `  (${token.reason})` : ""),
          );
        }
        ctx.print(list, lines);
      })
    );
}
