/**
 * `auth4agent verify --token JWT [--aud A] [--scope S] [--online]`: offline,
 * the signature by the issuer's cached JWKS plus `exp`, `iss`, audience and
 * scopes; `--online` also asks the issuer (RFC 7662), so revoked or unknown
 * tokens fail. A DPoP-bound token needs its request's proof: `--dpop PROOF
 * --method M --url U`. Exit 0 when valid, 1 with the reason when not.
 */
import type { Command } from "@commander-js/extra-typings";
import { TokenVerifier, type VerifyOptions } from "../client/verifier.ts";
import type { ActorClaim } from "../core/access_token.ts";
import { HTTP_METHOD, targetUri } from "../core/dpop.ts";
import { fail } from "../core/errors.ts";
import { inspectJws } from "../core/jws.ts";
import { parseScopeList } from "../core/scope.ts";
import { homeJwksCache } from "../home/jwks_cache.ts";
import type { CommandContext } from "./context.ts";
import {
  anyClientIdentity,
  type ClientIdentity,
  requireServer,
} from "./identity.ts";
import type { Run } from "./registry.ts";
import { repeatable } from "./repeatable.ts";

export function register(program: Command, run: Run): void {
  program.command("verify")
    .description(
      "verify an access token (offline by default, --online asks the issuer)",
    )
    .requiredOption("--token <jwt>", "the token")
    .option("--aud <audience>", "require this audience")
    .option("--scope <scopes...>", "require these scopes")
    .option(
      "--attester <url>",
      "require a token issued on a client attestation by this attester (repeatable: any of them)",
      repeatable,
    )
    .option(
      "--no-federated",
      "refuse tokens the issuer gave its federation peers' agents (taken by default)",
    )
    .option(
      "--online",
      "also ask the issuer whether the token is active (introspection)",
    )
    .option(
      "--status",
      "also check the issuer's status list for a revocation (no authentication; about a minute late)",
    )
    .option(
      "--dpop <proof>",
      "the DPoP proof sent with a DPoP-bound token (the request's DPoP header)",
    )
    .option(
      "--method <method>",
      "with --dpop: the request's method (default GET)",
    )
    .option("--url <url>", "with --dpop: the URL the request was sent to")
    .option(
      "--server <url>",
      "the issuer (default: the server of this home folder)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const dpop = dpopOptions(options);
        if (!dpop) requireUnbound(options.token);
        const server = await requireServer(ctx, options.server);
        const identity = options.online
          ? await onlineIdentity(ctx, server)
          : undefined;
        const client = ctx.client(server);
        const verifier = new TokenVerifier(
          client,
          homeJwksCache(ctx.home, server),
        );
        const claims = await verifier.verify(options.token, {
          // A person at a terminal sees the audience printed; --aud checks it.
          audience: options.aud ?? null,
          scopes: options.scope ? parseScopeList(options.scope) : undefined,
          attesters: options.attester,
          federated: options.federated,
          now: ctx.io.now(),
          status: options.status,
          dpop,
        });
        if (identity) {
          const result = await client.introspect(
            options.token,
            identity.clientId,
            identity.privateKey,
          );
          if (!result.active) {
            fail(
              "ERR_TOKEN_INACTIVE",
              "the issuer says the token is not active (revoked, expired or unknown)",
            );
          }
        }
        const expires = new Date(claims.exp * 1000).toISOString();
        ctx.print({ valid: true, online: options.online ?? false, claims }, [
          `valid${
            options.online
              ? " (checked online)"
              : options.status
              ? " (status list checked)"
              : ""
          }: ${claims.sub}`,
          ...(claims.act ? [`  actor: ${actors(claims.act)}`] : []),
          `  scope: ${claims.scope}`,
          `  aud:   ${claims.aud}`,
          `  iss:   ${claims.iss}`,
          `  exp:   ${expires}`,
          ...(claims.may_act ? [`  may act: ${claims.may_act.sub}`] : []),
          ...(claims.cnf ? [`  bound: DPoP key ${claims.cnf.jkt}`] : []),
          ...(claims.attestation
            ? [`  attested by: ${claims.attestation.iss}`]
            : []),
          ...(claims.federation
            ? [`  federated: vouched for by ${claims.federation.iss}`]
            : []),
        ]);
      })
    );
}

/**
 * The identity `--online` authenticates with. Its question carries this
 * home's client assertion, which any endpoint of its issuer accepts once: it
 * goes to that issuer only, never to another --server that could spend it
 * there for a token.
 */
async function onlineIdentity(
  ctx: CommandContext,
  server: string,
): Promise<ClientIdentity> {
  const identity = await anyClientIdentity(ctx);
  if (!identity) {
    fail(
      "ERR_HOME_MISSING",
      "--online authenticates to the issuer: this home folder needs a registered agent or operator",
    );
  }
  if (identity.server !== server) {
    fail(
      "ERR_USAGE",
      `--online authenticates as ${identity.clientId}, registered at ${identity.server}: it asks that issuer only, not ${server}`,
    );
  }
  return identity;
}

/**
 * The request a DPoP proof came with. One run checks one proof: it cannot
 * know whether the proof was used before (an API keeps that memory:
 * TokenVerifier).
 */
function dpopOptions(
  options: { dpop?: string; method?: string; url?: string },
): VerifyOptions["dpop"] {
  if (options.dpop === undefined) {
    if (options.method !== undefined || options.url !== undefined) {
      fail(
        "ERR_USAGE",
        "--method and --url describe the request of a --dpop proof",
      );
    }
    return undefined;
  }
  if (options.url === undefined) {
    fail("ERR_USAGE", "--dpop needs the --url the request was sent to");
  }
  if (targetUri(options.url) === undefined) {
    fail("ERR_USAGE", "--url must be an http(s) URL without user or password");
  }
  const method = options.method ?? "GET";
  if (!HTTP_METHOD.test(method)) {
    fail("ERR_USAGE", "--method must be an HTTP method, e.g. GET");
  }
  return { proof: options.dpop, method, url: options.url };
}

/**
 * A bound token without its proof fails in the verifier in HTTP's words;
 * here it says which flags are missing. Read, not trusted: any token that
 * claims a binding is refused without one either way.
 */
function requireUnbound(token: string): void {
  let cnf: unknown;
  try {
    cnf = inspectJws(token, "ERR_TOKEN_INVALID").payload.cnf;
  } catch {
    return; // The verifier says what is wrong with it.
  }
  if (cnf !== undefined) {
    fail(
      "ERR_TOKEN_INVALID",
      "the token is DPoP-bound: give the proof of the request it came with: --dpop PROOF --method M --url U",
    );
  }
}

/** The actor chain, the one holding the token first: `did:C (via did:B)`. */
function actors(act: ActorClaim): string {
  const earlier: string[] = [];
  for (let actor = act.act; actor; actor = actor.act) earlier.push(actor.sub);
  return earlier.length ? `${act.sub} (via ${earlier.join(", ")})` : act.sub;
}
