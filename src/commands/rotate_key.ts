/**
 * `auth4agent rotate-key`: the agent replaces its key; its DID stays. The
 * issuer accepts the new key on a statement signed with the old one (see
 * core/key_rotation.ts); the new key file replaces the old only then.
 */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { fingerprint, generateKeyPair } from "../core/keys.ts";
import { createKeyRotationStatement } from "../core/key_rotation.ts";
import { agentIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("rotate-key")
    .description(
      "replace this home's agent key (the DID stays); the old key signs the change",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const { file, signer } = await agentIdentity(ctx);
        if (!file.operator_id) {
          fail("ERR_HOME_MISSING", "the agent is not registered yet");
        }
        const current = await ctx.home.readKey("agent");
        const next = await generateKeyPair();
        const statement = await createKeyRotationStatement({
          did: file.did,
          previous: current.publicJwk,
          next,
          now: ctx.io.now(),
        });
        await ctx.home.stageKey("agent", next.pem);
        try {
          await ctx.client(file.server).rotateAgentKey(
            file.did,
            statement,
            signer,
          );
        } catch (error) {
          await ctx.home.discardStagedKey("agent");
          throw error;
        }
        await ctx.home.promoteStagedKey("agent");
        const print = await fingerprint(next.publicJwk);
        ctx.print(
          { did: file.did, fingerprint: print },
          `Key of ${file.did} rotated (new key ${print}).`,
        );
      })
    );
}
