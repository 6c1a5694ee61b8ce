/** Access tokens: JWTs per RFC 9068 (`typ: at+jwt`), signed with EdDSA. */
import type { AttestationClaim } from "./client_attestation.ts";
import { parseAgentDid } from "./did.ts";
import type { Confirmation } from "./dpop.ts";
import { randomToken } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import {
  checkTimes,
  hasTyp,
  inspectJws,
  signCompactJws,
  SIGNING_ALG,
  verifyJwsSignature,
} from "./jws.ts";
import { parseScopeParam } from "./scope.ts";
import { parseStatusClaim, type StatusClaim } from "./status_list.ts";

/** Claims RFC 9068 §2.2 requires, plus ours. */
const REQUIRED_CLAIMS = [
  "iss",
  "sub",
  "aud",
  "exp",
  "iat",
  "jti",
  "client_id",
  "scope",
] as const;

export const ACCESS_TOKEN_TYP = "at+jwt";
/**
 * A delegation: a token with `may_act` (RFC 8693 §4.4) that its named agent
 * trades at the token endpoint. Signed and recorded like an access token but
 * typed apart, so that no verifier of access tokens (RFC 9068 §4: `typ` must
 * be `at+jwt`) takes it for one: the agent holding it cannot present it as
 * the subject's own token.
 */
export const DELEGATION_TYP = "delegation+jwt";
/** The lifetime of an access token unless `serve --token-ttl` says otherwise, in seconds. */
export const DEFAULT_TOKEN_TTL_SECONDS = 900;
/** The longest `--token-ttl` a server accepts, in seconds. */
export const MAX_TOKEN_TTL_SECONDS = 86_400;

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  scope: string;
  client_id: string;
  iat: number;
  exp: number;
  jti: string;
  /** The operator's (verified) domain the agent belongs to. */
  domain: string;
  /**
   * A delegated token's actor chain (RFC 8693 §4.1): the agent holding it
   * (also its `client_id`) acts for `sub`; a nested `act` is the actor
   * before it. Absent: the agent acts for itself.
   */
  act?: ActorClaim;
  /** The agent this token lets act for `sub` (RFC 8693 §4.4), by exchanging it. */
  may_act?: { sub: string };
  /** Where its revocation is published (status_list.ts); absent on tokens from before. */
  status?: StatusClaim;
  /**
   * Bound to a DPoP key (RFC 9449 §6): only a request with a proof signed by
   * the key of this thumbprint may present it (core/dpop.ts).
   */
  cnf?: Confirmation;
  /**
   * Issued on a request that carried a client attestation: the attester
   * that vouched for the agent's instance, and that instance's key
   * (core/client_attestation.ts). The token ends by the attestation's end.
   */
  attestation?: AttestationClaim;
  /**
   * Issued for an agent of another issuer, this one's federation peer, on
   * that issuer's token (serve/federation.ts). Its `sub` is registered
   * there, not here.
   */
  federation?: FederationClaim;
}

export interface FederationClaim {
  /** The peer's identifier. */
  iss: string;
  /** The traded token's entry in the peer's status list: introspection here asks it. */
  status?: StatusClaim;
}

export interface ActorClaim {
  sub: string;
  act?: ActorClaim;
}

/**
 * The most actors a delegated token's chain may hold (`act` nested this
 * deep) for a verifier; this issuer names one (no re-delegation).
 */
export const MAX_DELEGATION_DEPTH = 4;

/**
 * A new token's `jti`: the issue time in milliseconds as 9 base36 digits, then
 * 96 random bits (base64url). Ids in time order append at the right edge of
 * the tokens table's key instead of dirtying a random page of it per token
 * (fewer pages written per commit); the random part keeps them unique.
 */
export function newTokenId(now: Date): string {
  return now.getTime().toString(36).padStart(9, "0") + randomToken(12);
}

export function signAccessToken(
  claims: AccessTokenClaims,
  signingKey: { kid: string; privateKey: CryptoKey },
): Promise<string> {
  const typ = claims.may_act ? DELEGATION_TYP : ACCESS_TOKEN_TYP;
  return Promise.resolve(signCompactJws(
    { typ, kid: signingKey.kid },
    { ...claims },
    signingKey.privateKey,
  ));
}

export interface VerifyAccessTokenOptions {
  issuer: string;
  /** Looks a verification key up by `kid`; undefined when unknown. */
  key: (kid: string) => Promise<CryptoKey | undefined> | CryptoKey | undefined;
  now: Date;
  audience?: string;
  /** Every one of these scopes must be in the token. */
  scopes?: readonly string[];
  /**
   * The token must have been issued on a client attestation by one of these
   * attesters (its `attestation.iss`).
   */
  attesters?: readonly string[];
  /**
   * Tokens the issuer gave a federation peer's agent (`federation`): taken
   * (true, the default: the issuer vouches for them as for its own), refused
   * (false), or taken only from these peers.
   */
  federated?: boolean | readonly string[];
  /** DELEGATION_TYP to verify a delegation (the token exchange) instead of an access token. */
  typ?: typeof ACCESS_TOKEN_TYP | typeof DELEGATION_TYP;
  /**
   * Seconds past `exp` still accepted (CLOCK_LEEWAY_SECONDS by default, for
   * a verifier whose clock is not the issuer's). The issuer, judging its own
   * tokens by its own clock, uses 0.
   */
  expiryLeeway?: number;
}

/**
 * Verifies an access token with every check explicit: compact EdDSA JWS with
 * `typ: at+jwt` and a known `kid`, the issuer, expiry (small leeway), the
 * audience and scopes when asked, and the claims RFC 9068 requires.
 */
export async function verifyAccessToken(
  token: string,
  options: VerifyAccessTokenOptions,
): Promise<AccessTokenClaims> {
  const parts = inspectJws(token, "ERR_TOKEN_INVALID");
  const { header } = parts;
  if (header.alg !== SIGNING_ALG) {
    fail("ERR_TOKEN_INVALID", "access tokens are signed with EdDSA");
  }
  if (typeof header.kid !== "string") {
    fail("ERR_TOKEN_INVALID", "token has no kid");
  }
  // Before its key is looked up: another issuer's token is told so (not
  // that its kid is unknown), and costs no fetch of this issuer's keys.
  if (parts.payload.iss !== options.issuer) {
    fail(
      "ERR_TOKEN_INVALID",
      `token iss ${
        JSON.stringify(parts.payload.iss)
      } is not the issuer ${options.issuer}`,
    );
  }
  const key = await options.key(header.kid);
  if (!key) {
    fail(
      "ERR_TOKEN_INVALID",
      `token kid ${JSON.stringify(header.kid)} is not a key of the issuer`,
    );
  }
  const typ = options.typ ?? ACCESS_TOKEN_TYP;
  if (!hasTyp(parts.header, typ)) {
    fail(
      "ERR_TOKEN_INVALID",
      typ === ACCESS_TOKEN_TYP
        ? `token typ must be ${ACCESS_TOKEN_TYP} (RFC 9068)`
        : `a delegation's typ is ${DELEGATION_TYP}`,
    );
  }
  verifyJwsSignature(parts, key, "ERR_TOKEN_INVALID", "token");
  const payload = parts.payload;
  for (const name of REQUIRED_CLAIMS) {
    if (payload[name] === undefined) {
      fail("ERR_TOKEN_INVALID", `token has no ${name} claim`);
    }
  }
  checkTimes(payload, options.now, "ERR_TOKEN_INVALID", "token", {
    requireExp: true,
    expiredCode: "ERR_TOKEN_EXPIRED",
    expiryLeeway: options.expiryLeeway,
  });
  if (options.audience !== undefined) {
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(options.audience)) {
      fail(
        "ERR_TOKEN_AUDIENCE",
        `token aud is not ${JSON.stringify(options.audience)}`,
      );
    }
  }
  const claims = parseClaims(payload);
  // may_act makes a delegation, and only a delegation.
  if ((claims.may_act !== undefined) !== (typ === DELEGATION_TYP)) {
    fail(
      "ERR_TOKEN_INVALID",
      typ === DELEGATION_TYP
        ? "a delegation names its actor in may_act"
        : "an access token has no may_act",
    );
  }
  if (options.attesters) requireAttested(claims, options.attesters);
  if (claims.federation) requireFederationTaken(claims.federation.iss, options);
  if (options.scopes) {
    const held = new Set(parseScopeParam(claims.scope));
    const missing = options.scopes.filter((s) => !held.has(s));
    if (missing.length > 0) {
      fail("ERR_TOKEN_SCOPE", `token lacks scope ${missing.join(" ")}`);
    }
  }
  return claims;
}

function requireFederationTaken(
  peer: string,
  options: Pick<VerifyAccessTokenOptions, "federated">,
): void {
  const { federated = true } = options;
  if (federated === true || (federated !== false && federated.includes(peer))) {
    return;
  }
  fail(
    "ERR_TOKEN_FEDERATED",
    `the token is for an agent of the issuer's federation peer ${peer}, which this verifier does not take`,
  );
}

function requireAttested(
  claims: AccessTokenClaims,
  attesters: readonly string[],
): void {
  if (!claims.attestation) {
    fail(
      "ERR_TOKEN_NOT_ATTESTED",
      `the token was issued without a client attestation; one by ${
        attesters.join(" or ")
      } is required`,
    );
  }
  if (!attesters.includes(claims.attestation.iss)) {
    fail(
      "ERR_TOKEN_NOT_ATTESTED",
      `the token's client attestation is by ${claims.attestation.iss}, not ${
        attesters.join(" or ")
      }`,
    );
  }
}

function parseClaims(p: Record<string, unknown>): AccessTokenClaims {
  const strings = [
    "iss",
    "sub",
    "aud",
    "scope",
    "client_id",
    "jti",
    "domain",
  ] as const;
  for (const name of strings) {
    if (typeof p[name] !== "string") {
      fail("ERR_TOKEN_INVALID", `token claim ${name} must be a string`);
    }
  }
  if (!Number.isInteger(p.iat) || !Number.isInteger(p.exp)) {
    fail("ERR_TOKEN_INVALID", "token iat and exp must be integers");
  }
  // No issuer signs a longer one: a token that claims more was forged (with a
  // key leaked, say) to outlive the key's withdrawal.
  if ((p.exp as number) - (p.iat as number) > MAX_TOKEN_TTL_SECONDS) {
    fail(
      "ERR_TOKEN_INVALID",
      `token lifetime exceeds ${MAX_TOKEN_TTL_SECONDS} s, the longest an issuer gives`,
    );
  }
  let act: ActorClaim | undefined;
  let mayAct: { sub: string } | undefined;
  let status: StatusClaim | undefined;
  let cnf: Confirmation | undefined;
  let attestation: AttestationClaim | undefined;
  let federation: { iss: string } | undefined;
  try {
    parseAgentDid(p.sub as string);
    parseScopeParam(p.scope as string);
    act = p.act === undefined ? undefined : parseActor(p.act, 1);
    mayAct = p.may_act === undefined ? undefined : parseMayAct(p.may_act);
    status = p.status === undefined ? undefined : parseStatusClaim(p.status);
    cnf = p.cnf === undefined ? undefined : parseConfirmation(p.cnf);
    attestation = p.attestation === undefined
      ? undefined
      : parseAttestation(p.attestation);
    federation = p.federation === undefined
      ? undefined
      : parseFederation(p.federation);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_TOKEN_INVALID",
      `token claims are malformed: ${(cause as Error).message}`,
    );
  }
  // The client holding the token is the agent itself or, delegated, its
  // current actor: nobody else.
  if (p.client_id !== (act?.sub ?? p.sub)) {
    fail(
      "ERR_TOKEN_INVALID",
      act
        ? "token client_id is not its actor (act.sub)"
        : "token sub and client_id differ",
    );
  }
  return {
    iss: p.iss as string,
    sub: p.sub as string,
    aud: p.aud as string,
    scope: p.scope as string,
    client_id: p.client_id as string,
    iat: p.iat as number,
    exp: p.exp as number,
    jti: p.jti as string,
    domain: p.domain as string,
    ...(act && { act }),
    ...(mayAct && { may_act: mayAct }),
    ...(status && { status }),
    ...(cnf && { cnf }),
    ...(attestation && { attestation }),
    ...(federation && { federation }),
  };
}

/** `federation` as we issue it: the peer that vouched for the agent. */
function parseFederation(value: unknown): FederationClaim {
  const claim = onlyMembers(value, "federation", ["iss", "status"]);
  if (typeof claim.iss !== "string" || claim.iss.length === 0) {
    throw new Error("federation.iss must be a string");
  }
  return {
    iss: claim.iss,
    ...(claim.status !== undefined && {
      status: parseStatusClaim(claim.status),
    }),
  };
}

/** `attestation` as we issue it: the attester and the instance key's thumbprint. */
function parseAttestation(value: unknown): AttestationClaim {
  const claim = onlyMembers(value, "attestation", ["iss", "jkt"]);
  if (typeof claim.iss !== "string" || claim.iss.length === 0) {
    throw new Error("attestation.iss must be a string");
  }
  if (
    typeof claim.jkt !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(claim.jkt)
  ) {
    throw new Error(
      "attestation.jkt must be a SHA-256 JWK thumbprint (base64url)",
    );
  }
  return { iss: claim.iss, jkt: claim.jkt };
}

/** `cnf` as we issue it: a DPoP key's SHA-256 thumbprint, nothing else. */
function parseConfirmation(value: unknown): Confirmation {
  const cnf = onlyMembers(value, "cnf", ["jkt"]);
  if (typeof cnf.jkt !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(cnf.jkt)) {
    throw new Error("cnf.jkt must be a SHA-256 JWK thumbprint (base64url)");
  }
  return { jkt: cnf.jkt };
}

/** An `act` claim as we issue it: `sub` (an agent DID) and the actor before, nothing else. */
function parseActor(value: unknown, depth: number): ActorClaim {
  if (depth > MAX_DELEGATION_DEPTH) {
    throw new Error(
      `act nests more than ${MAX_DELEGATION_DEPTH} actors`,
    );
  }
  const actor = onlyMembers(value, "act", ["sub", "act"]);
  if (typeof actor.sub !== "string") throw new Error("act.sub is missing");
  parseAgentDid(actor.sub);
  return actor.act === undefined
    ? { sub: actor.sub }
    : { sub: actor.sub, act: parseActor(actor.act, depth + 1) };
}

function parseMayAct(value: unknown): { sub: string } {
  const mayAct = onlyMembers(value, "may_act", ["sub"]);
  if (typeof mayAct.sub !== "string") throw new Error("may_act.sub is missing");
  parseAgentDid(mayAct.sub);
  return { sub: mayAct.sub };
}

function onlyMembers(
  value: unknown,
  name: string,
  members: readonly string[],
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${name} must be an object`);
  }
  const extra = Object.keys(value).find((key) => !members.includes(key));
  if (extra !== undefined) {
    throw new Error(
      `${name} has an unexpected member ${JSON.stringify(extra)}`,
    );
  }
  return value as Record<string, unknown>;
}
