/** Loading the home folder's identities as signers for the issuer client. */
import type { Signer } from "../client/issuer_client.ts";
import type { AgentFile, OperatorFile } from "../home/home.ts";
import { parseAgentDid } from "../core/did.ts";
import { fail } from "../core/errors.ts";
import type { KeyPair } from "../core/keys.ts";
import { type CommandContext, parseServerUrl } from "./context.ts";

export async function operatorIdentity(
  ctx: CommandContext,
): Promise<{ file: OperatorFile & { operator_id: string }; signer: Signer }> {
  const file = await ctx.home.requireRegisteredOperator();
  const key = await ctx.home.readKey("operator");
  return {
    file,
    signer: { privateKey: key.privateKey, kid: file.operator_id },
  };
}

export async function agentIdentity(
  ctx: CommandContext,
): Promise<
  { file: AgentFile; privateKey: CryptoKey; key: KeyPair; signer: Signer }
> {
  const file = await ctx.home.requireAgent();
  const key = await ctx.home.readKey("agent");
  return {
    file,
    key,
    privateKey: key.privateKey,
    signer: { privateKey: key.privateKey, kid: file.did },
  };
}

/** Who this home folder authenticates as, with the issuer it is registered at. */
export interface ClientIdentity {
  clientId: string;
  privateKey: CryptoKey;
  server: string;
}

/**
 * A client identity for introspection and revocation: this home's registered
 * operator when there is one (it may revoke any token of its domain), else
 * its registered agent.
 */
export async function anyClientIdentity(
  ctx: CommandContext,
): Promise<ClientIdentity | undefined> {
  const operator = await ctx.home.readOperator();
  if (operator?.operator_id) {
    return {
      clientId: operator.operator_id,
      privateKey: (await ctx.home.readKey("operator")).privateKey,
      server: operator.server,
    };
  }
  const agent = await ctx.home.readAgent();
  if (agent?.operator_id) {
    return {
      clientId: agent.did,
      privateKey: (await ctx.home.readKey("agent")).privateKey,
      server: agent.server,
    };
  }
  return undefined;
}

/** The issuer URL: --server, else the agent's, else the operator's. */
async function serverOf(
  ctx: CommandContext,
  flag?: string,
): Promise<string | undefined> {
  if (flag) return flag;
  return (await ctx.home.readAgent())?.server ??
    (await ctx.home.readOperator())?.server;
}

/** The issuer URL from --server or the home folder, or a clear error. */
export async function requireServer(
  ctx: CommandContext,
  flag?: string,
  missing = "no issuer known: pass --server URL or run `auth4agent init` first",
): Promise<string> {
  const server = await serverOf(ctx, flag && parseServerUrl(flag));
  if (!server) fail("ERR_HOME_MISSING", missing);
  return server;
}

/** The agent a command is about: `--agent DID`, else the agent of this home. */
export async function targetAgentDid(
  ctx: CommandContext,
  flag: string | undefined,
  missing = "name the agent with --agent DID (this home folder holds no agent)",
): Promise<string> {
  const did = flag
    ? parseAgentDid(flag).did
    : (await ctx.home.readAgent())?.did;
  if (!did) fail("ERR_USAGE", missing);
  return did;
}
