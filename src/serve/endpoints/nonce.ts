/** `POST /v1/nonce`: a single-use nonce for a signed request (5 minutes). */
import { randomToken } from "../../core/encoding.ts";
import type { AppDeps } from "../context.ts";
import { json } from "../http.ts";

const NONCE_TTL_MS = 300_000;

export async function issueNonce(deps: AppDeps): Promise<string> {
  const nonce = randomToken();
  await deps.store.createChallenge({
    nonce,
    kind: "request_nonce",
    subject: "",
    expiresAt: new Date(deps.now().getTime() + NONCE_TTL_MS),
  });
  return nonce;
}

export async function nonceEndpoint(deps: AppDeps): Promise<Response> {
  const nonce = await issueNonce(deps);
  return json({ nonce, expires_in: NONCE_TTL_MS / 1000 }, 201, {
    "Auth4Agent-Nonce": nonce,
  });
}
