/**
 * Workload tokens: the JWTs platforms give their workloads — a Kubernetes
 * service account token, a CI job's OIDC token, a SPIFFE JWT-SVID, another
 * OAuth server's RFC 9068 access token — which a workload trades at the
 * token endpoint for the tokens of the agent its identity is bound to (RFC
 * 7523 §2.1, `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`).
 * Checked as RFC 7523 §3 lists: issuer, subject, audience, expiry, and the
 * signature by a key the issuer publishes (never one the token names itself).
 */
import { Auth4AgentError, fail } from "./errors.ts";
import type { ForeignAlg, ForeignKey } from "./foreign_keys.ts";
import { utf8Scratch } from "./encoding.ts";
import { checkTimes, nowSeconds, parseForeignJws } from "./jws.ts";
import type { ErrorCode } from "./errors.ts";

/**
 * What a traded JWT is to the grant taking it, for its refusals: a platform's
 * workload token, or a federated issuer's access token (federated_token.ts).
 */
export interface TradedTokenKind {
  code: ErrorCode;
  /** "workload token", in messages. */
  noun: string;
  /** The `typ`s it may carry (lowercase, without `application/`), or none. */
  typs: readonly string[];
}

/**
 * A workload token's `typ`, if any: a plain JWT, a JWT-SVID's JOSE, or an
 * access token of another server. Never a DPoP proof, a delegation, a
 * request proof or a status list: those are no identity.
 */
export const WORKLOAD_TOKEN: TradedTokenKind = {
  code: "ERR_WORKLOAD_TOKEN_INVALID",
  noun: "workload token",
  typs: ["jwt", "jose", "at+jwt"],
};

export const JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/** RS256 (Kubernetes, most CI platforms), ES256, EdDSA. */
export const WORKLOAD_ALGS = ["RS256", "ES256", "EdDSA", "Ed25519"] as const;
/**
 * A workload token valid for longer than this from now is refused: platform
 * tokens live minutes to an hour; one good for a year (a legacy Kubernetes
 * secret) is a static key by another name.
 */
export const MAX_WORKLOAD_TOKEN_REMAINING_SECONDS = 86_400;
const MAX_SUBJECT_LENGTH = 1024;
const MAX_AUDIENCES = 16;

export interface UnverifiedWorkloadToken {
  iss: string;
  kid?: string;
  alg: ForeignAlg;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Uint8Array;
}

export interface WorkloadClaims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
}

/** Parses a workload token without trusting it: what names the key to check it with. */
export function inspectWorkloadToken(
  token: unknown,
  kind: TradedTokenKind = WORKLOAD_TOKEN,
): UnverifiedWorkloadToken {
  const { header, payload, signingInput, signature } = parseForeignJws(
    token,
    kind.code,
    kind.noun,
  );
  const alg = header.alg;
  if (!WORKLOAD_ALGS.includes(alg as typeof WORKLOAD_ALGS[number])) {
    fail(
      kind.code,
      `${kind.noun} alg ${JSON.stringify(alg)} is not accepted (${
        WORKLOAD_ALGS.join(", ")
      })`,
    );
  }
  for (const name of ["jwk", "jku", "x5u", "x5c", "crit", "b64"]) {
    if (name in header) {
      fail(
        kind.code,
        `${kind.noun} header ${name} is not accepted`,
      );
    }
  }
  if (
    header.typ !== undefined &&
    (typeof header.typ !== "string" ||
      !kind.typs.includes(
        header.typ.toLowerCase().replace(/^application\//, ""),
      ))
  ) {
    fail(
      kind.code,
      `a token of typ ${JSON.stringify(header.typ)} is no ${kind.noun}`,
    );
  }
  if (
    header.kid !== undefined &&
    (typeof header.kid !== "string" || header.kid.length > 256)
  ) {
    fail(kind.code, `${kind.noun} kid must be a string`);
  }
  if (typeof payload.iss !== "string" || payload.iss.length === 0) {
    fail(kind.code, `${kind.noun} has no iss`);
  }
  return {
    iss: payload.iss,
    kid: header.kid as string | undefined,
    alg: alg as ForeignAlg,
    header,
    payload,
    signingInput,
    signature,
  };
}

/**
 * Checks the token with its issuer's key: the signature, `exp` (required,
 * 30 s leeway, at most a day ahead), `nbf`, `iat`, `sub`, the shape of `aud`,
 * no `cnf` (a token bound to a key is not to be traded without it), no `act`
 * or `may_act`, and `client_id`, if any, equal to `sub`. The caller checks
 * the audience with requireAudience.
 */
export function verifyWorkloadToken(
  token: UnverifiedWorkloadToken,
  key: ForeignKey,
  options: {
    now: Date;
    kind?: TradedTokenKind;
    /** Its `cnf` is the caller's to check (federated_token.ts). */
    keyBoundChecked?: boolean;
  },
): WorkloadClaims {
  const kind = options.kind ?? WORKLOAD_TOKEN;
  if (!key.verify(utf8Scratch(token.signingInput), token.signature)) {
    fail(
      kind.code,
      `${kind.noun} signature does not verify with its issuer's key`,
    );
  }
  const { payload } = token;
  checkTimes(
    payload,
    options.now,
    kind.code,
    kind.noun,
    {
      requireExp: true,
    },
  );
  if (
    (payload.exp as number) - nowSeconds(options.now) >
      MAX_WORKLOAD_TOKEN_REMAINING_SECONDS
  ) {
    fail(
      kind.code,
      `${kind.noun} is valid for more than ${MAX_WORKLOAD_TOKEN_REMAINING_SECONDS} s: use short-lived tokens`,
    );
  }
  const sub = payload.sub;
  if (
    typeof sub !== "string" || sub.length === 0 ||
    sub.length > MAX_SUBJECT_LENGTH
  ) {
    fail(
      kind.code,
      `${kind.noun} sub must be a string of 1 to ${MAX_SUBJECT_LENGTH} characters`,
    );
  }
  const aud = audiences(payload.aud, kind);
  if (payload.cnf !== undefined && !options.keyBoundChecked) {
    fail(
      kind.code,
      `${kind.noun} is bound to a key (cnf): it cannot be traded without it`,
    );
  }
  // A delegated token (RFC 8693 §4.1) is its actor acting for `sub`, not
  // `sub`'s own credential: taken as `sub`'s, it would lend the actor the
  // subject's whole binding. One whose client is not its subject likewise.
  if (payload.act !== undefined || payload.may_act !== undefined) {
    fail(
      kind.code,
      `${kind.noun} is delegated (act) or a delegation (may_act): it is no identity of its sub`,
    );
  }
  // Trust is not passed on: a token its issuer gave on a third issuer's
  // word (an auth4agent issuer's federated token) speaks for that third
  // issuer, which this one never trusted.
  if (payload.federation !== undefined) {
    fail(
      kind.code,
      `${kind.noun} was itself issued through federation: trust is not passed on`,
    );
  }
  if (payload.client_id !== undefined && payload.client_id !== sub) {
    fail(
      kind.code,
      `${kind.noun}'s client_id is not its sub: it speaks for someone else`,
    );
  }
  return { iss: token.iss, sub, aud, exp: payload.exp as number };
}

/** RFC 7523 §3 item 3: the token must be meant for us (or the audience its binding names). */
export function requireAudience(
  claims: WorkloadClaims,
  audience: string,
  kind: TradedTokenKind = WORKLOAD_TOKEN,
): void {
  if (!claims.aud.includes(audience)) {
    fail(
      kind.code,
      `${kind.noun} aud must include ${JSON.stringify(audience)}`,
    );
  }
}

function audiences(aud: unknown, kind: TradedTokenKind): string[] {
  if (aud === undefined) {
    fail(
      kind.code,
      `${kind.noun} has no aud: ask for a token whose audience is this issuer's identifier`,
    );
  }
  const list = typeof aud === "string" ? [aud] : aud;
  if (
    !Array.isArray(list) || list.length === 0 ||
    list.length > MAX_AUDIENCES ||
    !list.every((value) => typeof value === "string")
  ) {
    throw new Auth4AgentError(
      kind.code,
      `${kind.noun} aud must be a string or 1 to ${MAX_AUDIENCES} strings`,
    );
  }
  return list;
}
