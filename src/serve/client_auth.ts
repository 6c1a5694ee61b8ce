/**
 * OAuth client authentication at the token, introspection and revocation
 * endpoints: `private_key_jwt` (RFC 7523 §2.2). An assertion that carries a
 * challenge nonce consumes that challenge; one without is accepted once per
 * `jti` until its `exp` (the replay cache).
 */
import {
  CLIENT_ASSERTION_TYPE,
  inspectClientAssertion,
  type VerifiedAssertion,
  verifyClientAssertion,
} from "../core/client_assertion.ts";
import type { SingleUse } from "../store/store.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { CLOCK_LEEWAY_SECONDS } from "../core/jws.ts";
import { findPrincipal, type Principal } from "./clients.ts";
import { type AppDeps, endpointUrl } from "./context.ts";

/**
 * Verifies the client's assertion without consuming it: the token endpoint
 * consumes it in the same write that records the token (one commit).
 */
export async function verifyClient(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
  endpointPath: string,
): Promise<{ principal: Principal; singleUse: SingleUse }> {
  const authorization = request.headers.get("Authorization");
  if (authorization !== null) {
    // RFC 6749 §5.2: a client that tried the Authorization header gets 401
    // with WWW-Authenticate "matching the authentication scheme used by the
    // client" (Basic for anything that is not a scheme name).
    const scheme = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?= |$)/.exec(authorization)
      ?.[0] ?? "Basic";
    throw new Auth4AgentError(
      "ERR_INVALID_CLIENT",
      "HTTP authentication (the Authorization header) is not supported; authenticate with private_key_jwt",
      {
        headers: {
          "WWW-Authenticate":
            `${scheme} realm="auth4agent", error="invalid_client"`,
        },
      },
    );
  }
  const type = params.get("client_assertion_type");
  const assertion = params.get("client_assertion");
  if (!type && !assertion) {
    fail(
      "ERR_INVALID_CLIENT",
      "client authentication is required (private_key_jwt: client_assertion and client_assertion_type)",
    );
  }
  if (type !== CLIENT_ASSERTION_TYPE) {
    fail(
      "ERR_INVALID_CLIENT",
      `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`,
    );
  }
  if (!assertion) fail("ERR_INVALID_CLIENT", "client_assertion is required");
  const parsed = inspectClientAssertion(assertion);
  const clientId = params.get("client_id") ?? parsed.iss;
  if (clientId !== parsed.iss) {
    fail("ERR_INVALID_CLIENT", "client_id does not match the assertion's iss");
  }
  const principal = await findPrincipal(deps, clientId, "ERR_INVALID_CLIENT");
  const now = deps.now();
  const verified = await verifyClientAssertion(parsed, {
    clientId,
    audiences: [
      deps.issuer,
      endpointUrl(deps, endpointPath),
      endpointUrl(deps, "/oauth/token"),
    ],
    publicKey: principal.publicKey,
    now,
  });
  // Charged only once the signature verified: nobody can spend another client's budget.
  deps.limits.perClient.take(`client:${clientId}`, now.getTime());
  return { principal, singleUse: singleUseOf(verified, clientId, now) };
}

/** What makes this authentication single-use: the challenge, or the jti until it expires. */
function singleUseOf(
  verified: VerifiedAssertion,
  clientId: string,
  now: Date,
): SingleUse {
  if (verified.nonce !== undefined) {
    return { challenge: verified.nonce, subject: clientId, now };
  }
  return {
    jti: verified.jti,
    clientId,
    expiresAt: new Date((verified.exp + CLOCK_LEEWAY_SECONDS) * 1000),
  };
}

/** The error for a single-use authentication used twice. */
export function replayed(singleUse: SingleUse): never {
  if ("challenge" in singleUse) {
    fail(
      "ERR_CHALLENGE_INVALID",
      "the challenge is unknown, already used, expired, or for another agent; ask for a new one",
    );
  }
  fail(
    "ERR_ASSERTION_REPLAYED",
    "this client assertion (jti) was already used",
  );
}

/** Authenticates the client and consumes its challenge or jti at once (introspection, revocation). */
export async function authenticateClient(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
  endpointPath: string,
): Promise<Principal> {
  const { principal, singleUse } = await verifyClient(
    request,
    params,
    deps,
    endpointPath,
  );
  if (!await deps.store.consumeSingleUse(singleUse)) replayed(singleUse);
  return principal;
}
