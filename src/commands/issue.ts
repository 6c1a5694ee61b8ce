/**
 * `auth4agent issue --scope S --aud A`: challenge → proof signed with the
 * agent's key → scoped token. Prints the JWT alone, so
 * `TOKEN=$(auth4agent issue …)` works; `--json` prints the whole response.
 * Delegation (RFC 8693): `--delegate-to DID` asks for a token that lets that
 * agent act for this one; that agent trades it with `--subject-token JWT`.
 * `--dpop` binds the token to the agent's key (RFC 9449).
 * `--attestation-file F` sends a client attestation of the agent's key with
 * a fresh PoP (draft-ietf-oauth-attestation-based-client-auth).
 * `--peer URL`: a token of another issuer that trusts this agent's issuer
 * for its domain (federation): this issuer's token for it, traded there.
 */
import type { Command } from "@commander-js/extra-typings";
import { inspectAttestation } from "../core/client_attestation.ts";
import { JWT_BEARER_GRANT } from "../core/workload_token.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";
import { isSurelyLoopback } from "../core/this_host.ts";
import { formatScope, parseScopeList } from "../core/scope.ts";
import type { CommandContext } from "./context.ts";
import { agentIdentity, requireServer, targetAgentDid } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("issue")
    .description("obtain a short-lived, scoped access token for this agent")
    .option(
      "--scope <scopes...>",
      "scopes to ask for (default: the whole grant)",
    )
    .option(
      "--aud <audience>",
      "the audience the token is for, e.g. api.example.com",
    )
    .option(
      "--ttl <seconds>",
      "ask for a shorter lifetime (the issuer caps it)",
    )
    .option(
      "--delegate-to <did>",
      "instead of a token, a delegation letting the agent <did> (of your domain) act for you; it trades it with --subject-token",
    )
    .option(
      "--subject-token <jwt>",
      "act for another agent: a token of theirs made with --delegate-to naming this agent",
    )
    .option(
      "--workload-token-file <file>",
      "no agent key here: trade the JWT a platform gave this workload (e.g. a Kubernetes service account token) for the token of --agent, which its operator bound it to (`workload add`)",
    )
    .option(
      "--agent <did>",
      "with --workload-token-file: the agent the workload is bound to",
    )
    .option(
      "--server <url>",
      "with --workload-token-file: the issuer (default: the server of this home folder)",
    )
    .option(
      "--peer <url>",
      "a token of this issuer instead, which trusts the agent's own issuer for its domain (federation): the agent's token for it, traded there",
    )
    .option(
      "--dpop",
      "bind the token to this agent's key (DPoP, RFC 9449): each request then needs a proof from `auth4agent dpop-proof` (not with --workload-token-file: a workload holds no agent key)",
    )
    .option(
      "--attestation-file <file>",
      "send this client attestation (a JWT from an attester the issuer trusts, bound to this agent's key) with a fresh proof of possession: needed when the agent's grant asks for one",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        if (options.workloadTokenFile !== undefined) {
          return await issueForWorkload(ctx, options);
        }
        if (options.agent !== undefined || options.server !== undefined) {
          fail(
            "ERR_USAGE",
            "--agent and --server go with --workload-token-file; an agent's own home names both",
          );
        }
        if (options.peer !== undefined) {
          return await issueAtPeer(ctx, options.peer, options);
        }
        const { file, privateKey, key } = await registeredAgent(ctx);
        if (options.delegateTo !== undefined && options.aud !== undefined) {
          fail(
            "ERR_USAGE",
            "--delegate-to makes a delegation, traded at the issuer only: leave out --aud (the agent that trades it names the audience)",
          );
        }
        if (options.delegateTo !== undefined && options.dpop) {
          fail(
            "ERR_USAGE",
            "--delegate-to makes a delegation for another agent, which does not hold this agent's key: leave out --dpop (that agent may use --dpop when it trades it)",
          );
        }
        const { expiresIn, scope } = tokenAsk(options);
        const attestation = options.attestationFile === undefined
          ? undefined
          : await readAttestation(options.attestationFile, key.publicJwk);
        const response = await ctx.client(file.server).issueToken(
          file.did,
          privateKey,
          {
            scope,
            audience: options.aud,
            expiresIn,
            mayAct: options.delegateTo,
            subjectToken: options.subjectToken,
            dpop: options.dpop ? key : undefined,
            attestation: attestation === undefined
              ? undefined
              : { jwt: attestation, privateKey },
          },
        );
        ctx.print(response, response.access_token);
      })
    );
}

/** The flags of `issue`, as given. */
interface IssueFlags {
  ttl?: string;
  scope?: string[];
  aud?: string;
  delegateTo?: string;
  subjectToken?: string;
  workloadTokenFile?: string;
  agent?: string;
  server?: string;
  peer?: string;
  dpop?: boolean;
  attestationFile?: string;
}

/** This home's agent, registered (it has an operator). */
async function registeredAgent(ctx: CommandContext) {
  const identity = await agentIdentity(ctx);
  if (!identity.file.operator_id) {
    fail(
      "ERR_HOME_MISSING",
      "the agent is not registered yet; run `auth4agent register agent --operator-id ID`",
    );
  }
  return identity;
}

/** What `--ttl` and `--scope` ask for, checked. */
function tokenAsk(
  options: { ttl?: string; scope?: string[] },
): { expiresIn?: number; scope?: string } {
  if (
    options.ttl !== undefined &&
    (!/^[0-9]{1,9}$/.test(options.ttl) || Number(options.ttl) < 1)
  ) fail("ERR_USAGE", "--ttl must be a positive number of seconds");
  return {
    expiresIn: options.ttl === undefined ? undefined : Number(options.ttl),
    scope: options.scope
      ? formatScope(parseScopeList(options.scope))
      : undefined,
  };
}

/**
 * Federation: the agent's own token, for the peer's audience and with the
 * scopes asked for, traded at the peer for the peer's token. With `--dpop`
 * both are bound to the agent's key.
 */
async function issueAtPeer(
  ctx: CommandContext,
  peerUrl: string,
  options: IssueFlags,
): Promise<void> {
  if (options.delegateTo !== undefined || options.subjectToken !== undefined) {
    fail(
      "ERR_USAGE",
      "--peer asks for the agent's own token at the peer: no --delegate-to or --subject-token",
    );
  }
  if (!URL.canParse(peerUrl)) {
    fail("ERR_USAGE", `--peer must be the peer's issuer URL, not ${peerUrl}`);
  }
  if (new URL(peerUrl).protocol !== "https:" && !isSurelyLoopback(peerUrl)) {
    fail(
      "ERR_USAGE",
      `the token traded is a credential others could reuse until it expires: send it to an https issuer, not ${peerUrl}`,
    );
  }
  const { file, privateKey, key } = await registeredAgent(ctx);
  const { expiresIn, scope } = tokenAsk(options);
  const peer = ctx.client(peerUrl);
  const metadata = await peer.metadata();
  const grants = metadata.grant_types_supported;
  if (!Array.isArray(grants) || !grants.includes(JWT_BEARER_GRANT)) {
    fail(
      "ERR_USAGE",
      `${peerUrl} federates with no issuer (its metadata offers no ${JWT_BEARER_GRANT})`,
    );
  }
  const dpop = options.dpop ? key : undefined;
  // An attestation is for the agent's own issuer, whose grant may ask for
  // one; the peer trusts that issuer's word, not the attester's.
  const attestation = options.attestationFile === undefined
    ? undefined
    : await readAttestation(options.attestationFile, key.publicJwk);
  // Two issuers answer: each refusal says which.
  const own = await said(
    `your issuer ${file.server}`,
    ctx.client(file.server).issueToken(file.did, privateKey, {
      scope,
      audience: metadata.issuer,
      expiresIn,
      dpop,
      attestation: attestation === undefined
        ? undefined
        : { jwt: attestation, privateKey },
    }),
  );
  const response = await said(
    `the peer ${peerUrl}`,
    peer.federatedToken(own.access_token, {
      scope,
      audience: options.aud,
      expiresIn,
      dpop,
    }),
  );
  ctx.print(response, response.access_token);
}

/** `answer`, or its refusal with `who` said it in front. */
async function said<T>(who: string, answer: Promise<T>): Promise<T> {
  try {
    return await answer;
  } catch (error) {
    if (!(error instanceof Auth4AgentError)) throw error;
    throw new Auth4AgentError(error.code, `${who}: ${error.message}`, {
      cause: error,
      headers: error.headers,
    });
  }
}

/** The largest token file read: platform JWTs and attestations are a few KB. */
const MAX_TOKEN_FILE_BYTES = 16 * 1024;

/** Workload federation: the platform's JWT from a file, traded for the agent's token. */
async function issueForWorkload(
  ctx: CommandContext,
  options: IssueFlags,
): Promise<void> {
  if (
    options.delegateTo !== undefined || options.subjectToken !== undefined ||
    options.dpop || options.attestationFile !== undefined ||
    options.peer !== undefined
  ) {
    fail(
      "ERR_USAGE",
      "--workload-token-file asks for the agent's own token: no --delegate-to, --subject-token, --dpop, --attestation-file or --peer (a workload holds no key to prove)",
    );
  }
  const did = await targetAgentDid(
    ctx,
    options.agent,
    "--workload-token-file needs --agent DID: the agent the workload is bound to",
  );
  const server = await requireServer(
    ctx,
    options.server,
    "--workload-token-file needs --server URL: the issuer to trade the token at",
  );
  if (new URL(server).protocol !== "https:" && !isSurelyLoopback(server)) {
    fail(
      "ERR_USAGE",
      `the platform token is a credential others could reuse until it expires: send it to an https issuer, not ${server}`,
    );
  }
  const assertion = await readTokenFile(
    options.workloadTokenFile!,
    "--workload-token-file",
  );
  const { expiresIn, scope } = tokenAsk(options);
  const response = await ctx.client(server).workloadToken(did, assertion, {
    scope,
    audience: options.aud,
    expiresIn,
  });
  ctx.print(response, response.access_token);
}

async function readTokenFile(path: string, flag: string): Promise<string> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile || info.size > MAX_TOKEN_FILE_BYTES) {
      fail(
        "ERR_USAGE",
        `${flag} ${path} is not a file of at most ${MAX_TOKEN_FILE_BYTES} bytes`,
      );
    }
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Auth4AgentError) throw error;
    fail(
      "ERR_USAGE",
      `cannot read ${flag} ${path}: ${(error as Error).message}`,
    );
  }
  const token = text.trim();
  if (token === "") fail("ERR_USAGE", `${flag} ${path} is empty`);
  return token;
}

/**
 * The attestation from its file, when it is bound to this agent's key (the
 * key that signs its PoP here): a mix-up is told before any request.
 */
async function readAttestation(
  path: string,
  agentKey: Ed25519PublicJwk,
): Promise<string> {
  const attestation = await readTokenFile(path, "--attestation-file");
  let jwk: Record<string, unknown> | undefined;
  try {
    const { payload } = inspectAttestation(attestation);
    jwk = (payload.cnf as { jwk?: Record<string, unknown> } | undefined)?.jwk;
  } catch (error) {
    fail(
      "ERR_USAGE",
      `--attestation-file ${path}: ${(error as Error).message}`,
    );
  }
  if (jwk === undefined) {
    fail(
      "ERR_USAGE",
      `--attestation-file ${path} names no key (cnf.jwk): the attester must bind it to this agent's key`,
    );
  }
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || jwk.x !== agentKey.x) {
    fail(
      "ERR_USAGE",
      `--attestation-file ${path} is bound to another key (cnf.jwk): the CLI signs its proof with this agent's key, {"kty":"OKP","crv":"Ed25519","x":"${agentKey.x}"} (\`auth4agent did show\`)`,
    );
  }
  return attestation;
}
