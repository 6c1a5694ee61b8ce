/**
 * The steps every grant at `POST /oauth/token` shares: what a grant decides
 * (a TokenPlan), the verified operator, the audience (`audience` or RFC 8707
 * `resource`), the lifetime, and `may_act` (whom the token lets act for its
 * subject, RFC 8693 §4.4).
 */
import type { ActorClaim } from "../../core/access_token.ts";
import { parseAgentDid } from "../../core/did.ts";
import { utf8Length } from "../../core/encoding.ts";
import { Auth4AgentError, fail } from "../../core/errors.ts";
import type {
  AgentRecord,
  AgentStanding,
  OperatorRecord,
  SingleUse,
} from "../../store/store.ts";
import type { AppDeps } from "../context.ts";
import { hasHiddenCharacters } from "../http.ts";

/** Who asks for a token, and what makes the request good once. */
export interface Authenticated {
  client: AgentStanding;
  singleUse: SingleUse;
  /** The token ends by then at the latest (seconds): when the credential it came from does. */
  notAfter?: number;
  /** How the client proved who it is, for the audit log, when not with its own key. */
  via?: string;
}

/** What a grant decided the token says, before it is signed and recorded. */
export interface TokenPlan {
  /** The agent the token speaks for (`sub`), and its operator's verified domain. */
  subject: string;
  domain: string;
  scopes: string[];
  audience: string;
  /** Seconds. */
  lifetime: number;
  /** Delegated: the token expires by then at the latest (its parent's `exp`, seconds). */
  notAfter?: number;
  /** Delegated: the actor chain, the requesting agent first. */
  act?: ActorClaim;
  /** Delegated: the token it was exchanged for. */
  parentJti?: string;
  /** The agent it lets act for `subject` by exchanging it. */
  mayAct?: string;
  /**
   * The grants behind the token that ask for a client attestation: the
   * request's must be by one of each one's attesters (client_attestation.ts).
   */
  attestedBy: readonly AttestationAsk[];
}

/** An agent's grant asking for a client attestation by one of `attesters`. */
export interface AttestationAsk {
  did: string;
  attesters: readonly string[];
}

/** What the agent's grant asks of attestation, as TokenPlan `attestedBy` entries (none: no entry). */
export function attestersOf(standing: AgentStanding): AttestationAsk[] {
  const attesters = standing.grant?.attesters;
  return attesters?.length ? [{ did: standing.agent.did, attesters }] : [];
}

const MAX_AUDIENCE_BYTES = 512;

export function requireVerifiedOperator(
  agent: AgentRecord,
  operator: OperatorRecord,
): string {
  if (!operator.verifiedAt || operator.domain !== agent.domain) {
    fail(
      "ERR_OPERATOR_NOT_VERIFIED",
      `the operator of ${agent.domain} has not verified the domain`,
    );
  }
  return operator.domain;
}

/** `audience` takes any string; `resource` (RFC 8707) an absolute URI; default: the issuer. */
export function resolveAudience(
  params: Map<string, string>,
  deps: AppDeps,
): string {
  const audience = params.get("audience");
  const resource = params.get("resource");
  if (
    audience !== undefined && resource !== undefined && audience !== resource
  ) {
    fail("ERR_INVALID_REQUEST", "send audience or resource, not both");
  }
  if (resource !== undefined) {
    // Repeated `resource` values arrive joined by spaces (URIs hold none).
    const resources = new Set(resource.split(" "));
    if (resources.size > 1) {
      fail(
        "ERR_INVALID_AUDIENCE",
        "a token is issued for one resource at a time",
      );
    }
    if (!ABSOLUTE_URI.test(resource) || !URL.canParse(resource)) {
      fail(
        "ERR_INVALID_AUDIENCE",
        "resource must be an absolute URI without a fragment (RFC 8707)",
      );
    }
  }
  const value = resource?.split(" ")[0] ?? audience ?? deps.issuer;
  // Any string (DESIGN), without hidden characters (http.ts), bounded in
  // bytes: the token that carries it must stay under MAX_JWS_LENGTH.
  if (utf8Length(value) > MAX_AUDIENCE_BYTES || hasHiddenCharacters(value)) {
    fail(
      "ERR_INVALID_AUDIENCE",
      `audience must be at most ${MAX_AUDIENCE_BYTES} bytes of UTF-8, without control or format characters`,
    );
  }
  return value;
}

/**
 * RFC 3986 §4.3 absolute-URI by its characters: a scheme, then only URI
 * characters and well-formed %HH escapes, and no fragment (RFC 8707 §2). A
 * WHATWG URL parser alone would take backslashes, raw non-ASCII, a bad %zz
 * and an empty `#`.
 */
const ABSOLUTE_URI =
  /^[a-z][a-z0-9+.-]*:(?:[a-z0-9\-._~!$&'()*+,;=:@/?[\]]|%[0-9a-f]{2})*$/i;

/** `expires_in` may ask for a shorter token; the server's --token-ttl caps it. */
export function resolveLifetime(
  params: Map<string, string>,
  deps: AppDeps,
): number {
  const asked = params.get("expires_in");
  if (asked === undefined) return deps.tokenTtl;
  if (!/^[0-9]{1,9}$/.test(asked) || Number(asked) < 1) {
    fail(
      "ERR_INVALID_REQUEST",
      "expires_in must be a positive integer of seconds",
    );
  }
  return Math.min(Number(asked), deps.tokenTtl);
}

/**
 * `may_act=DID` (our parameter; the claim is RFC 8693 §4.4's): the token will
 * be a delegation (core/access_token.ts) that lets that agent — registered,
 * of the same domain (delegation across operators is federation, not built)
 * and not the subject — act for `subject` by exchanging it here. Its audience
 * is the token endpoint, none other.
 */
export async function resolveMayAct(
  params: Map<string, string>,
  subject: AgentRecord,
  deps: AppDeps,
): Promise<string | undefined> {
  const mayAct = params.get("may_act");
  if (mayAct === undefined) return undefined;
  try {
    parseAgentDid(mayAct);
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_INVALID_REQUEST",
      `may_act must be an agent DID: ${(cause as Error).message}`,
    );
  }
  if (mayAct === subject.did) {
    fail("ERR_INVALID_REQUEST", "may_act names the token's own subject");
  }
  if (params.has("audience") || params.has("resource")) {
    fail(
      "ERR_INVALID_REQUEST",
      "a delegation (may_act) is exchanged at the token endpoint only: send no audience or resource",
    );
  }
  const actor = await deps.store.getAgent(mayAct);
  if (!actor) {
    fail("ERR_INVALID_REQUEST", `no agent ${mayAct} is registered here`);
  }
  if (actor.domain !== subject.domain) {
    fail(
      "ERR_INVALID_REQUEST",
      `may_act must name an agent of ${subject.domain}: delegation across domains is not supported`,
    );
  }
  return mayAct;
}
