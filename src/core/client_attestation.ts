/**
 * Client attestation (draft-ietf-oauth-attestation-based-client-auth, as of
 * its October 2026 text): an attester the issuer trusts — the service that
 * checked the agent's runtime (a TEE's quote, a signed build, a managed
 * host) — signs a Client Attestation JWT naming the agent (`sub`, its DID)
 * and the key its instance holds (`cnf.jwk`); with each request the
 * instance adds a fresh Client Attestation PoP JWT signed by that key. The
 * two travel in the OAuth-Client-Attestation and OAuth-Client-Attestation-PoP
 * headers, beside the agent's own client authentication (§7.6: an
 * additional security signal). Checked here as §7.1 and §7.2 list the steps;
 * the attester's key comes from its published metadata (serve/
 * foreign_issuers.ts), never from the JWT itself.
 *
 * Our profile (§13): `iss` is required (it names the attester whose keys
 * verify the JWT). A PoP is fresh by its `iat`, and used once: by its
 * `challenge`, when it carries one from the challenge endpoint (§6.3), else
 * by its `jti` (§12.1).
 */
import { Auth4AgentError, fail } from "./errors.ts";
import {
  type ForeignAlg,
  type ForeignKey,
  foreignKey,
} from "./foreign_keys.ts";
import { randomToken, utf8Scratch } from "./encoding.ts";
import {
  checkTimes,
  CLOCK_LEEWAY_SECONDS,
  hasTyp,
  nowSeconds,
  parseForeignJws,
  signCompactJws,
} from "./jws.ts";

export const ATTESTATION_HEADER = "OAuth-Client-Attestation";
export const ATTESTATION_POP_HEADER = "OAuth-Client-Attestation-PoP";
/** The response header with a fresh challenge (§6.1). */
export const ATTESTATION_CHALLENGE_HEADER =
  "OAuth-Client-Attestation-Challenge";
export const ATTESTATION_TYP = "oauth-client-attestation+jwt";
export const ATTESTATION_POP_TYP = "oauth-client-attestation-pop+jwt";
/**
 * Algorithms for both JWTs (the metadata's
 * `client_attestation_signing_alg_values_supported` and
 * `client_attestation_pop_signing_alg_values_supported`): asymmetric only —
 * this issuer shares no MAC key with any attester.
 */
export const ATTESTATION_ALGS = ["ES256", "EdDSA", "Ed25519", "RS256"] as const;
/**
 * An attestation issued longer ago than this is refused as stale (§7.4
 * `use_fresh_attestation`): the attester's judgement of a runtime is only
 * as good as it is recent.
 */
export const MAX_ATTESTATION_AGE_SECONDS = 86_400;
/** How old a PoP may be (by its `iat`); its `jti` is remembered this long. */
export const ATTESTATION_POP_MAX_AGE_SECONDS = 60;
const MAX_JTI_LENGTH = 256;
const MAX_ISSUER_LENGTH = 512;

/** What a token issued on an attested request says of the attestation. */
export interface AttestationClaim {
  /** The attester that vouched for the agent's instance. */
  iss: string;
  /** The RFC 7638 thumbprint of the instance key the attestation is bound to. */
  jkt: string;
}

/** An attestation parsed, not yet trusted: what names its attester's key. */
export interface UnverifiedAttestation {
  iss: string;
  kid?: string;
  alg: ForeignAlg;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Uint8Array;
}

export interface VerifiedAttestation extends AttestationClaim {
  /** When the attestation ends (seconds): a token it backs ends by then. */
  exp: number;
  /** The PoP's id and the time (seconds) until which it must be refused when seen again. */
  popJti: string;
  popReplayableUntil: number;
  /** The challenge the PoP carries (§5.1): one handed out, to be consumed. */
  popChallenge?: string;
}

/**
 * Parses the OAuth-Client-Attestation header (§7.1 items 1–3): one compact
 * JWS typed `oauth-client-attestation+jwt`, an accepted `alg`, an `iss`.
 */
export function inspectAttestation(value: string): UnverifiedAttestation {
  const { header, payload, signingInput, signature } = parseForeignJws(
    oneValue(value, ATTESTATION_HEADER),
    "ERR_CLIENT_ATTESTATION_INVALID",
    "client attestation",
  );
  if (!hasTyp(header, ATTESTATION_TYP)) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation typ must be ${ATTESTATION_TYP}`,
    );
  }
  const alg = acceptedAlg(header.alg, "client attestation");
  // The attester's keys come from its metadata: a key or chain the JWT
  // names itself proves nothing.
  for (const name of ["jwk", "jku", "x5u", "x5c", "crit"]) {
    if (name in header) {
      fail(
        "ERR_CLIENT_ATTESTATION_INVALID",
        `client attestation header ${name} is not accepted: the attester's keys come from its published metadata`,
      );
    }
  }
  if (
    header.kid !== undefined &&
    (typeof header.kid !== "string" || header.kid.length > 256)
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation kid must be a string",
    );
  }
  const iss = payload.iss;
  if (
    typeof iss !== "string" || iss.length === 0 ||
    iss.length > MAX_ISSUER_LENGTH
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation has no iss naming its attester",
    );
  }
  return {
    iss,
    kid: header.kid as string | undefined,
    alg,
    payload,
    signingInput,
    signature,
  };
}

export interface VerifyAttestationOptions {
  /** The attester's key that the attestation's `kid` (or `alg`) names. */
  attesterKey: ForeignKey;
  /** The OAuth-Client-Attestation-PoP header's value. */
  pop: string;
  /** The agent the request authenticated as: the attestation's `sub`. */
  clientId: string;
  /** This issuer's identifier: the PoP's `aud`. */
  issuer: string;
  now: Date;
}

/**
 * Checks the attestation with its attester's key (§7.1 items 4–7: signature,
 * `sub`, `exp`, `iat` no older than MAX_ATTESTATION_AGE_SECONDS, a public
 * `cnf.jwk`), then the PoP with that key (§7.2: typ, alg, signature, `aud`,
 * a fresh `iat`, a `jti`, a well-formed `challenge` if any). Keeping the PoP
 * from being used twice is the caller's part (`popChallenge` or `popJti`).
 */
export function verifyAttestation(
  attestation: UnverifiedAttestation,
  options: VerifyAttestationOptions,
): VerifiedAttestation {
  if (
    !options.attesterKey.verify(
      utf8Scratch(attestation.signingInput),
      attestation.signature,
    )
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation signature does not verify with its attester's key",
    );
  }
  const { payload } = attestation;
  checkTimes(
    payload,
    options.now,
    "ERR_CLIENT_ATTESTATION_INVALID",
    "client attestation",
    { requireExp: true, expiredCode: "ERR_CLIENT_ATTESTATION_STALE" },
  );
  if (payload.iat === undefined) {
    fail("ERR_CLIENT_ATTESTATION_INVALID", "client attestation has no iat");
  }
  if (
    nowSeconds(options.now) - (payload.iat as number) >
      MAX_ATTESTATION_AGE_SECONDS
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_STALE",
      `client attestation was issued more than ${MAX_ATTESTATION_AGE_SECONDS} s ago: ask the attester for a fresh one`,
    );
  }
  if (payload.sub !== options.clientId) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation sub must be the client, ${options.clientId}`,
    );
  }
  const jwk = (payload.cnf as { jwk?: unknown } | undefined)?.jwk;
  if (
    typeof payload.cnf !== "object" || payload.cnf === null ||
    typeof jwk !== "object" || jwk === null
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation has no cnf.jwk: the instance key it is bound to",
    );
  }
  const pop = verifyPop(options.pop, jwk, options);
  return {
    iss: attestation.iss,
    jkt: pop.key.thumbprint,
    exp: payload.exp as number,
    popJti: pop.jti,
    popReplayableUntil: pop.replayableUntil,
    ...(pop.challenge !== undefined && { popChallenge: pop.challenge }),
  };
}

function verifyPop(
  value: string,
  jwk: unknown,
  options: { issuer: string; now: Date },
): {
  key: ForeignKey;
  jti: string;
  replayableUntil: number;
  challenge?: string;
} {
  const { header, payload, signingInput, signature } = parseForeignJws(
    oneValue(value, ATTESTATION_POP_HEADER),
    "ERR_CLIENT_ATTESTATION_INVALID",
    "client attestation PoP",
  );
  if (!hasTyp(header, ATTESTATION_POP_TYP)) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation PoP typ must be ${ATTESTATION_POP_TYP}`,
    );
  }
  const alg = acceptedAlg(header.alg, "client attestation PoP");
  if ("crit" in header) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation PoP header crit is not accepted",
    );
  }
  let key: ForeignKey;
  try {
    key = foreignKey(jwk, alg);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation cnf.jwk is not a ${alg} public key: ${
        (cause as Error).message
      }`,
    );
  }
  if (!key.verify(utf8Scratch(signingInput), signature)) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      "client attestation PoP signature does not verify with the attested instance key",
    );
  }
  checkTimes(
    payload,
    options.now,
    "ERR_CLIENT_ATTESTATION_INVALID",
    "client attestation PoP",
  );
  const aud = payload.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  // Meant for one audience (§5.1): this issuer, by its identifier.
  if (audiences.length !== 1 || audiences[0] !== options.issuer) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation PoP aud must be this issuer, ${options.issuer}`,
    );
  }
  const iat = payload.iat;
  if (typeof iat !== "number") {
    fail("ERR_CLIENT_ATTESTATION_INVALID", "client attestation PoP has no iat");
  }
  if (
    nowSeconds(options.now) - iat >
      ATTESTATION_POP_MAX_AGE_SECONDS + CLOCK_LEEWAY_SECONDS
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation PoP is older than ${ATTESTATION_POP_MAX_AGE_SECONDS} s: make one per request`,
    );
  }
  const jti = payload.jti;
  if (
    typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation PoP jti must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
    );
  }
  const challenge = payload.challenge;
  if (
    challenge !== undefined &&
    (typeof challenge !== "string" || challenge.length === 0 ||
      challenge.length > MAX_JTI_LENGTH)
  ) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `client attestation PoP challenge must be a string of 1 to ${MAX_JTI_LENGTH} characters`,
    );
  }
  return {
    key,
    jti,
    replayableUntil: iat + ATTESTATION_POP_MAX_AGE_SECONDS +
      2 * CLOCK_LEEWAY_SECONDS,
    ...(challenge !== undefined && { challenge }),
  };
}

/** A header sent twice arrives joined by commas, which no JWT holds. */
function oneValue(value: string, name: string): string {
  if (value.includes(",")) {
    fail("ERR_CLIENT_ATTESTATION_INVALID", `send exactly one ${name} header`);
  }
  return value.trim();
}

function acceptedAlg(alg: unknown, what: string): ForeignAlg {
  if (!ATTESTATION_ALGS.includes(alg as typeof ATTESTATION_ALGS[number])) {
    fail(
      "ERR_CLIENT_ATTESTATION_INVALID",
      `${what} alg ${JSON.stringify(alg)} is not accepted (${
        ATTESTATION_ALGS.join(", ")
      })`,
    );
  }
  return alg as ForeignAlg;
}

/**
 * A PoP signed by an Ed25519 instance key (an agent's own, when its
 * attestation is bound to it): one per request, for one issuer.
 */
export function createAttestationPop(input: {
  /** The issuer identifier the request goes to. */
  audience: string;
  privateKey: CryptoKey;
  now: Date;
  /** One the server handed out (its challenge endpoint, or an error's header). */
  challenge?: string;
}): string {
  return signCompactJws(
    { typ: ATTESTATION_POP_TYP },
    {
      aud: input.audience,
      jti: randomToken(16),
      iat: nowSeconds(input.now),
      ...(input.challenge !== undefined && { challenge: input.challenge }),
    },
    input.privateKey,
  );
}
