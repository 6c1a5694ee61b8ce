/** `auth4agent agent-scopes set --scopes S [--agent DID]`: the operator grants scopes. */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { parseScopeList } from "../core/scope.ts";
import { agentIdentity, operatorIdentity, targetAgentDid } from "./identity.ts";
import type { Run } from "./registry.ts";
import { repeatable } from "./repeatable.ts";

export function register(program: Command, run: Run): void {
  const agentScopes = program.command("agent-scopes").description(
    "manage the scopes an operator grants to its agents",
  );

  agentScopes.command("set")
    .description(
      "replace the agent's grant (deny by default: only these scopes can be issued)",
    )
    .requiredOption(
      "--scopes <scopes...>",
      "scopes, space- or comma-separated, e.g. read:payments",
    )
    .option(
      "--agent <did>",
      "the agent (default: the agent in this home folder)",
    )
    .option(
      "--require-attestation <attester>",
      "every token request of the agent must carry a client attestation by this attester, one the issuer trusts (repeatable: any of them); left out, the grant's requirement stays as it is",
      repeatable,
    )
    .option(
      "--clear-attestation",
      "drop the grant's attestation requirement",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const scopes = parseScopeList(options.scopes);
        if (scopes.length === 0) fail("ERR_USAGE", "give at least one scope");
        if (options.clearAttestation && options.requireAttestation) {
          fail(
            "ERR_USAGE",
            "--require-attestation sets the grant's attesters, --clear-attestation drops them: give one",
          );
        }
        const did = await targetAgentDid(ctx, options.agent);
        const { file, signer } = await operatorIdentity(ctx);
        const result = await ctx.client(file.server).setAgentScopes(
          did,
          scopes,
          signer,
          {
            requireAttestation: options.clearAttestation
              ? []
              : options.requireAttestation,
          },
        );
        ctx.print(result, [
          `Granted to ${result.did}: ${result.scopes.join(" ")}`,
          ...(result.require_attestation.length > 0
            ? [
              `  requires attestation by: ${
                result.require_attestation.join(" or ")
              }`,
            ]
            : []),
        ]);
      })
    );

  agentScopes.command("list")
    .description("show the agent's grant as the issuer holds it")
    .option(
      "--agent <did>",
      "the agent (default: the agent in this home folder)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const did = await targetAgentDid(ctx, options.agent);
        const operator = await ctx.home.readOperator();
        const { file, signer } = operator?.operator_id
          ? await operatorIdentity(ctx)
          : await agentIdentity(ctx);
        const result = await ctx.client(file.server).agentScopes(did, signer);
        ctx.print(result, [
          result.scopes.length
            ? `${result.did}: ${result.scopes.join(" ")}`
            : `${result.did}: no scopes granted`,
          ...(result.require_attestation?.length
            ? [
              `  requires attestation by: ${
                result.require_attestation.join(" or ")
              }`,
            ]
            : []),
        ]);
      })
    );
}
