/**
 * The token endpoint's client attestation step (core/client_attestation.ts):
 * an attestation is optional unless the agent's grant asks for one; one that
 * comes is checked in full whether asked for or not, and a token issued on
 * it says so (`attestation`) and ends when the attestation does. A server
 * that trusts no attester does not read the headers, as a server without the
 * extension would not (its tokens then say nothing of an attestation).
 */
import {
  ATTESTATION_CHALLENGE_HEADER,
  ATTESTATION_HEADER,
  ATTESTATION_POP_HEADER,
  inspectAttestation,
  type VerifiedAttestation,
  verifyAttestation,
} from "../core/client_attestation.ts";
import { DPOP_HEADER } from "../core/dpop.ts";
import { randomToken } from "../core/encoding.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { nowSeconds } from "../core/jws.ts";
import type { AgentStanding } from "../store/store.ts";
import type { AppDeps } from "./context.ts";
import type { AttestationAsk } from "./grants/token_request.ts";

/**
 * The replay cache's client for attestation PoPs, followed by the instance
 * key's thumbprint: a PoP names no client, so one instance key attested for
 * several agents still takes each PoP once. No DID or operator id starts so.
 */
const POP_REPLAY_PREFIX = "attestation-pop:";

export async function clientAttestation(
  request: Request,
  client: AgentStanding,
  attestedBy: readonly AttestationAsk[],
  deps: AppDeps,
  /** A workload asks (the JWT bearer grant), not the agent with its own key. */
  workload = false,
): Promise<VerifiedAttestation | undefined> {
  if (attestedBy.length === 0 && deps.clientAttesters.issuers.length === 0) {
    return undefined;
  }
  requireMeetable(attestedBy, deps);
  const headers = attestationHeaders(request);
  if (!headers) {
    const ask = attestedBy[0];
    if (ask) {
      const whose = ask.did === client.agent.did
        ? ""
        : `, of whoever acts for it: send one of your own key, ${client.agent.did}`;
      fail(
        "ERR_CLIENT_ATTESTATION_REQUIRED",
        `the grant of ${ask.did} asks for a client attestation by ${
          ask.attesters.join(" or ")
        }${whose} (${ATTESTATION_HEADER} and ${ATTESTATION_POP_HEADER} headers; ${
          workload
            ? "a workload's: IssuerClient.workloadToken with its attestation"
            : "the CLI: issue --attestation-file"
        })`,
      );
    }
    return undefined;
  }
  const now = deps.now();
  const inspected = inspectAttestation(headers.attestation);
  const verified = verifyAttestation(inspected, {
    attesterKey: await deps.clientAttesters.key(inspected, now),
    pop: headers.pop,
    clientId: client.agent.did,
    issuer: deps.issuer,
    now,
  });
  // Before the PoP is consumed: a request refused for it leaves the PoP unused.
  if (verified.exp <= nowSeconds(now)) {
    fail("ERR_CLIENT_ATTESTATION_STALE", "the client attestation has expired");
  }
  for (const ask of attestedBy) {
    if (!ask.attesters.includes(verified.iss)) {
      fail(
        "ERR_CLIENT_ATTESTATION_REQUIRED",
        `the grant of ${ask.did} asks for a client attestation by ${
          ask.attesters.join(" or ")
        }, not ${verified.iss}`,
      );
    }
  }
  await usePopOnce(verified, deps, now);
  return verified;
}

/** A grant asking only for attesters the server no longer trusts can never be met: said so. */
function requireMeetable(
  attestedBy: readonly AttestationAsk[],
  deps: AppDeps,
): void {
  for (const ask of attestedBy) {
    if (!ask.attesters.some((a) => deps.clientAttesters.trusts(a))) {
      fail(
        "ERR_CLIENT_ATTESTATION_REQUIRED",
        `the grant of ${ask.did} asks for a client attestation by ${
          ask.attesters.join(" or ")
        }, which this server no longer trusts (serve --client-attester): the agent's operator must change the grant`,
      );
    }
  }
}

/** Both headers, neither (undefined), or a refusal for one without the other. */
function attestationHeaders(
  request: Request,
): { attestation: string; pop: string } | undefined {
  const attestation = request.headers.get(ATTESTATION_HEADER);
  const pop = request.headers.get(ATTESTATION_POP_HEADER);
  if (attestation === null && pop === null) return undefined;
  if (attestation === null) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `${ATTESTATION_POP_HEADER} came without ${ATTESTATION_HEADER}`,
    );
  }
  if (pop === null) {
    // §7: an attestation with a DPoP proof and no PoP is the DPoP combined
    // mode (attest_jwt_client_auth_dpop), which this issuer does not offer.
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      request.headers.has(DPOP_HEADER)
        ? `a DPoP proof does not stand in for ${ATTESTATION_POP_HEADER} here (the combined mode is not supported)`
        : `${ATTESTATION_HEADER} came without ${ATTESTATION_POP_HEADER}`,
    );
  }
  return { attestation, pop };
}

/**
 * The PoP is taken once: by its challenge, consumed here (a used or unknown
 * one is answered with a fresh one), else by its jti, remembered until the
 * PoP would be refused as too old anyway.
 */
async function usePopOnce(
  verified: VerifiedAttestation,
  deps: AppDeps,
  now: Date,
): Promise<void> {
  if (verified.popChallenge !== undefined) {
    const consumed = await deps.store.consumeChallenge(
      verified.popChallenge,
      "attestation_challenge",
      "",
      now,
    );
    if (!consumed) {
      throw new Auth4AgentError(
        "ERR_ATTESTATION_CHALLENGE_INVALID",
        "the client attestation PoP's challenge is unknown, used or expired: sign a new PoP with the challenge in this answer",
        {
          headers: {
            [ATTESTATION_CHALLENGE_HEADER]: await newAttestationChallenge(
              deps,
            ),
          },
        },
      );
    }
    return;
  }
  const fresh = await deps.store.consumeSingleUse({
    jti: verified.popJti,
    clientId: POP_REPLAY_PREFIX + verified.jkt,
    expiresAt: new Date(verified.popReplayableUntil * 1000),
  });
  if (!fresh) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "this client attestation PoP (jti) was already used: make one per request",
    );
  }
}

/**
 * A single-use challenge for a PoP (§6.3), bound to no client: the
 * endpoint that hands it out is not authenticated, as the draft has it.
 */
export async function newAttestationChallenge(deps: AppDeps): Promise<string> {
  const nonce = randomToken();
  await deps.store.createChallenge({
    nonce,
    kind: "attestation_challenge",
    subject: "",
    expiresAt: new Date(deps.now().getTime() + deps.challengeTtl * 1000),
  });
  return nonce;
}
