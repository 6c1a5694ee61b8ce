/** `auth4agent did show [DID]`: the DID document, as the issuer resolves it. */
import type { Command } from "@commander-js/extra-typings";
import { parseAgentDid } from "../core/did.ts";
import { fail } from "../core/errors.ts";
import { jsonText } from "./context.ts";
import { requireServer } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  const did = program.command("did").description("DIDs of agents");
  did.command("show")
    .description(
      "print the DID document of an agent (default: this home's agent)",
    )
    .argument("[did]", "the agent DID")
    .option(
      "--server <url>",
      "the issuer (default: the server of this home folder)",
    )
    .action((didArg, options, command) =>
      run(command, async (ctx) => {
        const target = didArg ?? (await ctx.home.readAgent())?.did;
        if (!target) {
          fail("ERR_USAGE", "name a DID (this home folder holds no agent)");
        }
        parseAgentDid(target);
        const server = await requireServer(ctx, options.server);
        const document = await ctx.client(server).didDocument(target);
        ctx.io.stdout(jsonText(document, 2) + "\n");
      })
    );
}
