/** `auth4agent register operator` and `auth4agent register agent --operator-id ID`. */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  const registerCmd = program.command("register").description(
    "register this home's operator or agent with the issuer",
  );

  registerCmd.command("operator")
    .description("register the operator key and domain; prints the operator id")
    .action((_options, command) =>
      run(command, async (ctx) => {
        const file = await ctx.home.requireOperator();
        if (file.operator_id) {
          fail(
            "ERR_OPERATOR_EXISTS",
            `already registered as ${file.operator_id}`,
          );
        }
        const key = await ctx.home.readKey("operator");
        const status = await ctx.client(file.server).registerOperator(
          file.domain,
          {
            privateKey: key.privateKey,
            publicJwk: key.publicJwk,
          },
        );
        await ctx.home.writeJson("operator.json", {
          ...file,
          operator_id: status.operator_id,
        }, true);
        ctx.print({
          operator_id: status.operator_id,
          domain: status.domain,
          verified: status.verified,
        }, [
          `Operator registered: ${status.operator_id} (${status.domain}, not yet verified)`,
          "Next: auth4agent verify-operator instructions",
        ]);
      })
    );

  registerCmd.command("agent")
    .description(
      "register the agent key and DID under an operator of the same domain",
    )
    .requiredOption(
      "--operator-id <id>",
      "the operator id printed by `register operator`",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const file = await ctx.home.requireAgent();
        const key = await ctx.home.readKey("agent");
        const status = await ctx.client(file.server).registerAgent(
          file.did,
          options.operatorId,
          {
            privateKey: key.privateKey,
            publicJwk: key.publicJwk,
          },
        );
        await ctx.home.writeJson("agent.json", {
          ...file,
          operator_id: status.operator_id,
        }, true);
        ctx.print(status, [
          `Agent registered: ${status.did} under operator ${status.operator_id}`,
          "Next (as the operator): auth4agent agent-scopes set --scopes SCOPES",
        ]);
      })
    );
}
