/**
 * Authenticating signed requests (operator actions and registrations): the
 * `Auth4Agent-Signature` proof must verify with the signer's registered key
 * (or the key it embeds, for registration), cover this method, path and body,
 * and carry a fresh server nonce, consumed exactly once.
 */
import { Auth4AgentError, fail } from "../core/errors.ts";
import { type Ed25519PublicJwk, importPublicJwk } from "../core/keys.ts";
import {
  inspectRequestProof,
  REQUEST_PROOF_HEADER,
  verifyRequestProof,
} from "../core/request_proof.ts";
import { findPrincipal, type Principal } from "./clients.ts";
import type { AppDeps } from "./context.ts";
import { issueNonce } from "./endpoints/nonce.ts";

export type Signer =
  | Principal
  | { kind: "new-key"; publicJwk: Ed25519PublicJwk; publicKey: CryptoKey };

export async function authenticateRequest(
  request: Request,
  body: Uint8Array<ArrayBuffer>,
  deps: AppDeps,
): Promise<Signer> {
  try {
    return await authenticate(request, body, deps);
  } catch (error) {
    throw withChallenge(error);
  }
}

/**
 * RFC 9110 §11.6.1: a 401 carries WWW-Authenticate with the scheme to use,
 * here the signed request's own (`Auth4Agent-Signature`, a token as schemes
 * are) and the OAuth error, as RFC 6750 and 9449 do for theirs.
 */
function withChallenge(error: unknown): unknown {
  if (
    !(error instanceof Auth4AgentError) || error.status !== 401 ||
    error.headers["WWW-Authenticate"] !== undefined
  ) return error;
  return new Auth4AgentError(error.code, error.message, {
    cause: error.cause,
    headers: {
      ...error.headers,
      "WWW-Authenticate":
        `${REQUEST_PROOF_HEADER} realm="auth4agent", error="${error.oauthError}"`,
    },
  });
}

async function authenticate(
  request: Request,
  body: Uint8Array<ArrayBuffer>,
  deps: AppDeps,
): Promise<Signer> {
  const proof = request.headers.get(REQUEST_PROOF_HEADER);
  const claimed = inspectRequestProof(proof);
  let signer: Signer;
  if (claimed.kid !== undefined) {
    signer = await findPrincipal(
      deps,
      claimed.kid,
      "ERR_REQUEST_SIGNATURE_INVALID",
    );
  } else {
    signer = {
      kind: "new-key",
      publicJwk: claimed.jwk!,
      publicKey: await importPublicJwk(claimed.jwk!),
    };
  }
  const url = new URL(request.url);
  await verifyRequestProof(
    proof!,
    { method: request.method, path: url.pathname + url.search, body },
    signer.publicKey,
    deps.now(),
  );
  // Charged only once the signature verified: nobody can spend another signer's budget.
  if (signer.kind !== "new-key") {
    deps.limits.perClient.take(`client:${signer.id}`, deps.now().getTime());
  }
  const nonce = await deps.store.consumeChallenge(
    claimed.nonce,
    "request_nonce",
    "",
    deps.now(),
  );
  if (!nonce) {
    // Like DPoP's use_dpop_nonce: hand a fresh nonce back so the client can retry once.
    throw new Auth4AgentError(
      "ERR_NONCE_INVALID",
      "the request nonce is unknown, used or expired; retry with the nonce in Auth4Agent-Nonce",
      {
        headers: { "Auth4Agent-Nonce": await issueNonce(deps) },
      },
    );
  }
  return signer;
}

export function requireOperator(
  signer: Signer,
): Extract<Signer, { kind: "operator" }> {
  if (signer.kind !== "operator") {
    fail("ERR_FORBIDDEN", "this action must be signed by an operator key");
  }
  return signer;
}

/** Registrations are signed by the key being registered (`jwk` header). */
export function requireNewKey(
  signer: Signer,
  what: string,
): Extract<Signer, { kind: "new-key" }> {
  if (signer.kind !== "new-key") {
    fail(
      "ERR_INVALID_REQUEST",
      `${what} is signed with the key being registered (jwk header)`,
    );
  }
  return signer;
}
