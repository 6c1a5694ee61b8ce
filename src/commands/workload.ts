/**
 * `auth4agent workload add | list | remove`: the operator binds platform
 * identities (a Kubernetes service account, a CI job: the `iss` and `sub` of
 * the JWT its platform gives it) to an agent, so that workload obtains the
 * agent's tokens with `issue --workload-token-file` and no agent key.
 */
import type { Command } from "@commander-js/extra-typings";
import { agentIdentity, operatorIdentity, targetAgentDid } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  const workload = program.command("workload").description(
    "workload federation: platform identities that may obtain an agent's tokens without its key",
  );

  workload.command("add")
    .description(
      "let the platform identity (--issuer, --subject) obtain the agent's tokens",
    )
    .option(
      "--agent <did>",
      "the agent, one of this operator's (default: the agent in this home folder)",
    )
    .requiredOption(
      "--issuer <url>",
      "the platform's issuer, exactly its tokens' iss (one the server trusts: serve --workload-issuer)",
    )
    .requiredOption(
      "--subject <sub>",
      "its tokens' sub, exactly, e.g. system:serviceaccount:payments:worker",
    )
    .option(
      "--audience <aud>",
      "an aud its tokens must carry besides the issuer's identifier",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const did = await targetAgentDid(ctx, options.agent);
        const { file, signer } = await operatorIdentity(ctx);
        const result = await ctx.client(file.server).addWorkloadIdentity(
          did,
          {
            issuer: options.issuer,
            subject: options.subject,
            audience: options.audience,
          },
          signer,
        );
        ctx.print(
          result,
          `Bound to ${result.did}: ${result.issuer} ${result.subject}`,
        );
      })
    );

  workload.command("list")
    .description(
      "the agent's workload identities and the platforms the server trusts",
    )
    .option(
      "--agent <did>",
      "the agent (default: the agent in this home folder)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const operator = await ctx.home.readOperator();
        const { file, signer } = operator?.operator_id
          ? await operatorIdentity(ctx)
          : await agentIdentity(ctx);
        const did = await targetAgentDid(ctx, options.agent);
        const result = await ctx.client(file.server).workloadIdentities(
          did,
          signer,
        );
        const count = result.workload_identities.length;
        ctx.print(result, [
          `${result.did}: ${count || "no"} workload ${
            count === 1 ? "identity" : "identities"
          }`,
          ...result.workload_identities.map((identity) =>
            `  ${identity.issuer} ${identity.subject}${
              identity.audience === null ? "" : ` (aud ${identity.audience})`
            }${
              result.trusted_issuers.includes(identity.issuer)
                ? ""
                : " — not a platform the issuer trusts now: no tokens"
            }`
          ),
          `trusted platforms: ${result.trusted_issuers.join(" ") || "none"}`,
        ]);
      })
    );

  workload.command("remove")
    .description("unbind a platform identity: it obtains no more tokens")
    .option(
      "--agent <did>",
      "the agent (default: the agent in this home folder)",
    )
    .requiredOption("--issuer <url>", "the platform's issuer, as bound")
    .requiredOption("--subject <sub>", "the subject, as bound")
    .action((options, command) =>
      run(command, async (ctx) => {
        const did = await targetAgentDid(ctx, options.agent);
        const { file, signer } = await operatorIdentity(ctx);
        const result = await ctx.client(file.server).removeWorkloadIdentity(
          did,
          { issuer: options.issuer, subject: options.subject },
          signer,
        );
        ctx.print(
          result,
          `Removed from ${result.did}: ${result.issuer} ${result.subject}`,
        );
      })
    );
}
