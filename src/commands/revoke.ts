/** `auth4agent revoke --token JWT`: the token's agent or its operator revokes it (RFC 7009). */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { anyClientIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("revoke")
    .description(
      "revoke an access token (as its agent or as the operator of its domain)",
    )
    .requiredOption("--token <jwt>", "the token to revoke")
    .action((options, command) =>
      run(command, async (ctx) => {
        const identity = await anyClientIdentity(ctx);
        if (!identity) {
          fail(
            "ERR_HOME_MISSING",
            "revoking needs a registered agent or operator in this home folder",
          );
        }
        await ctx.client(identity.server).revoke(
          options.token,
          identity.clientId,
          identity.privateKey,
        );
        ctx.print({ revoked: true }, "Token revoked.");
      })
    );
}
