/**
 * OAuth client authentication at the token, introspection and revocation
 * endpoints: `private_key_jwt` (RFC 7523 §2.2). An assertion that carries a
 * challenge nonce consumes that challenge; one without is accepted once per
 * `jti` until its `exp` (the replay cache).
 */
import {
  CLIENT_ASSERTION_TYPE,
  inspectClientAssertion,
  verifyClientAssertion,
} from "../core/client_assertion.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { CLOCK_LEEWAY_SECONDS } from "../core/jws.ts";
import { findPrincipal, type Principal } from "./clients.ts";
import { type AppDeps, endpointUrl } from "./context.ts";

export async function authenticateClient(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
  endpointPath: string,
): Promise<Principal> {
  if (request.headers.has("Authorization")) {
    // RFC 6749 §5.2: a client that tried the Authorization header gets 401 with WWW-Authenticate.
    throw new Auth4AgentError(
      "ERR_INVALID_CLIENT",
      "HTTP authentication (client_secret_basic) is not supported; authenticate with private_key_jwt",
      {
        headers: {
          "WWW-Authenticate":
            'Basic realm="auth4agent", error="invalid_client"',
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
  if (verified.nonce !== undefined) {
    const challenge = await deps.store.consumeChallenge(
      verified.nonce,
      "token_challenge",
      clientId,
      now,
    );
    if (!challenge) {
      fail(
        "ERR_CHALLENGE_INVALID",
        "the challenge is unknown, already used, expired, or for another agent; ask for a new one",
      );
    }
  } else {
    const expiresAt = new Date((verified.exp + CLOCK_LEEWAY_SECONDS) * 1000);
    if (!await deps.store.rememberJti(clientId, verified.jti, expiresAt)) {
      fail(
        "ERR_ASSERTION_REPLAYED",
        "this client assertion (jti) was already used",
      );
    }
  }
  return principal;
}
