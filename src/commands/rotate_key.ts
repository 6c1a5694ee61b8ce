/**
 * `auth4agent rotate-key`: the agent replaces its key; its DID stays. The
 * issuer accepts the new key on a statement signed with the old one (see
 * core/key_rotation.ts); the new key file replaces the old only then.
 *
 * Until then the new key waits in `keys/agent.key.next`. The issuer's own
 * refusal deletes it; a failure that leaves the outcome unknown (no answer,
 * an unreadable one, a proxy's page, a 5xx) keeps it, and the next run asks
 * the issuer which key it holds:
 * if the staged one, it becomes the key; if still the old one, the rotation
 * is sent again with the staged key.
 */
import type { Command } from "@commander-js/extra-typings";
import { type IssuerClient, IssuerError } from "../client/issuer_client.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { fingerprint, generateKeyPair, type KeyPair } from "../core/keys.ts";
import { createKeyRotationStatement } from "../core/key_rotation.ts";
import type { CommandContext } from "./context.ts";
import { agentIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("rotate-key")
    .description(
      "replace this home's agent key (the DID stays); the old key signs the change",
    )
    .action((_options, command) =>
      run(command, (ctx) =>
        // The home's lock: no other rotation, init or register acts meanwhile.
        ctx.home.withLock(async () => {
          const file = await ctx.home.requireAgent();
          if (!file.operator_id) {
            fail("ERR_HOME_MISSING", "the agent is not registered yet");
          }
          await rotate(ctx);
        }))
    );
}

async function rotate(ctx: CommandContext): Promise<void> {
  const { file, signer } = await agentIdentity(ctx);
  const client = ctx.client(file.server);
  const current = await ctx.home.readKey("agent");
  let next = await ctx.home.readStagedKey("agent");
  if (next) {
    const held = await keyAtIssuer(client, file.did);
    if (held === next.publicJwk.x) {
      await ctx.home.promoteStagedKey("agent");
      await printRotated(ctx, file.did, next, true);
      return;
    }
    if (held !== current.publicJwk.x) {
      fail(
        "ERR_HOME_INVALID",
        `the issuer holds neither ${ctx.home.keyPath("agent")} nor ${
          ctx.home.stagedKeyPath("agent")
        } for ${file.did}; both are left as they are`,
      );
    }
    ctx.note(
      `Retrying the rotation with the key staged by an earlier run (${await fingerprint(
        next.publicJwk,
      )}).`,
    );
  } else {
    const generated = await generateKeyPair();
    await ctx.home.stageKey("agent", generated.pem);
    next = generated;
  }
  const statement = await createKeyRotationStatement({
    did: file.did,
    previous: current.publicJwk,
    next,
    now: ctx.io.now(),
  });
  try {
    await client.rotateAgentKey(file.did, statement, signer);
  } catch (error) {
    if (isRefusal(error)) {
      // An earlier run's request may have landed meanwhile, so that this one
      // is refused (its signing key is no longer the agent's): the staged key
      // goes only when the issuer still holds the current one.
      const held = await keyAtIssuer(client, file.did).catch(() => undefined);
      if (held === next.publicJwk.x) {
        await ctx.home.promoteStagedKey("agent");
        await printRotated(ctx, file.did, next, true);
        return;
      }
      if (held === current.publicJwk.x) {
        await ctx.home.discardStagedKey("agent");
        throw error;
      }
    }
    const known = error instanceof Auth4AgentError;
    const reason = known
      ? error.message
      : `the issuer's answer could not be read (${
        (error as Error)?.message ?? String(error)
      })`;
    throw new Auth4AgentError(
      known ? error.code : "ERR_ISSUER_RESPONSE",
      `${reason}. Whether the issuer rotated the key is unknown; the new key stays in ${
        ctx.home.stagedKeyPath("agent")
      }: run \`auth4agent rotate-key\` again to finish`,
      { cause: error },
    );
  }
  await ctx.home.promoteStagedKey("agent");
  await printRotated(ctx, file.did, next, false);
}

/**
 * Whether the issuer surely did not rotate: it refuses, in its own words (an
 * auth4agent error code), with a 4xx before it writes anything. With no
 * answer, an unreadable one, a proxy's page (even a 403) or a 5xx (sent also
 * when the write succeeded but what follows it failed) the outcome is unknown.
 */
function isRefusal(error: unknown): boolean {
  return error instanceof IssuerError && error.status < 500;
}

/** The `x` of the key the issuer's DID document holds for `did`. */
async function keyAtIssuer(client: IssuerClient, did: string): Promise<string> {
  const body = await client.didDocument(did);
  // A revoked DID comes as a DID resolution result around the document.
  const document = (body.didDocument ?? body) as {
    verificationMethod?: { publicKeyJwk?: { x?: unknown } }[];
  };
  const x = document.verificationMethod?.[0]?.publicKeyJwk?.x;
  if (typeof x !== "string") {
    fail(
      "ERR_ISSUER_RESPONSE",
      `the issuer's DID document of ${did} holds no key`,
    );
  }
  return x;
}

async function printRotated(
  ctx: CommandContext,
  did: string,
  next: KeyPair,
  earlier: boolean,
): Promise<void> {
  const print = await fingerprint(next.publicJwk);
  ctx.print(
    { did, fingerprint: print },
    earlier
      ? `Key of ${did} rotated: the issuer had accepted the new key (${print}) on an earlier run.`
      : `Key of ${did} rotated (new key ${print}).`,
  );
}
