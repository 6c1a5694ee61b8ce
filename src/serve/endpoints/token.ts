/**
 * `POST /oauth/token` as a short list of named steps: parse → authenticate
 * the client (RFC 7523) → the grant decides what the token says → sign and
 * record it. Grants, in one registry: client credentials (RFC 6749 §4.4),
 * token exchange (RFC 8693, delegation) and the jwt-bearer grant (RFC 7523
 * §2.1) of workloads — or, when its assertion's issuer is a federation
 * peer, of that peer's agents (federatedTokenEndpoint: no agent here).
 */
import {
  type AccessTokenClaims,
  type FederationClaim,
  newTokenId,
  signAccessToken,
} from "../../core/access_token.ts";
import {
  type Confirmation,
  DPOP_HEADER,
  DPOP_SCHEME,
  verifyDpopProof,
} from "../../core/dpop.ts";
import { Auth4AgentError, type ErrorCode, fail } from "../../core/errors.ts";
import { nowSeconds } from "../../core/jws.ts";
import { formatScope } from "../../core/scope.ts";
import { statusClaim } from "../../core/status_list.ts";
import { audit } from "../audit.ts";
import { replayed, verifyClient } from "../client_auth.ts";
import { requireActive } from "../clients.ts";
import type {
  AgentStanding,
  AuditEvent,
  SingleUse,
  TokenRecord,
} from "../../store/store.ts";
import { type AppDeps, endpointUrl, PATHS } from "../context.ts";
import { clientAttestation } from "../client_attestation.ts";
import type { VerifiedAttestation } from "../../core/client_attestation.ts";
import { coveredByItsWrite } from "../durability.ts";
import { json, readForm } from "../http.ts";
import {
  CLIENT_CREDENTIALS_GRANT,
  clientCredentials,
} from "../grants/client_credentials.ts";
import {
  ACCESS_TOKEN_TYPE,
  JWT_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
  tokenExchange,
} from "../grants/token_exchange.ts";
import {
  JWT_BEARER_GRANT,
  workloadAuthentication,
} from "../grants/jwt_bearer.ts";
import {
  FEDERATED_ACTION,
  type FederatedRequest,
  federatedRequest,
  registeredHere,
  verifyFederatedToken,
} from "../grants/federation.ts";
import type { Authenticated, TokenPlan } from "../grants/token_request.ts";

type Authenticate = (
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
) => Promise<Authenticated>;

type Grant = (
  client: AgentStanding,
  params: Map<string, string>,
  deps: AppDeps,
) => Promise<TokenPlan>;

/**
 * The grant types, by `grant_type`: how the client proves who it is, what
 * the grant decides, and the audit action it records.
 */
const GRANTS: ReadonlyMap<
  string,
  { authenticate: Authenticate; grant: Grant; action: string }
> = new Map([
  [CLIENT_CREDENTIALS_GRANT, {
    authenticate: agentAuthentication,
    grant: clientCredentials,
    action: "token.issue",
  }],
  [TOKEN_EXCHANGE_GRANT, {
    authenticate: agentAuthentication,
    grant: tokenExchange,
    action: "token.exchange",
  }],
  [JWT_BEARER_GRANT, {
    authenticate: workloadAuthentication,
    grant: clientCredentials,
    action: "token.issue",
  }],
]);

/**
 * The metadata's `grant_types_supported`: the jwt-bearer grant only where
 * the server trusts a platform or a federation peer.
 */
export function grantTypes(deps: AppDeps): string[] {
  return [...GRANTS.keys()].filter((type) => offered(type, deps));
}

function offered(grantType: string, deps: AppDeps): boolean {
  return grantType !== JWT_BEARER_GRANT ||
    deps.workloadIssuers.issuers.length > 0 ||
    deps.federation.peers.length > 0;
}

export async function tokenEndpoint(
  request: Request,
  deps: AppDeps,
): Promise<Response> {
  const params = await readForm(request);
  const grantType = params.get("grant_type");
  const grant = grantType === undefined ? undefined : GRANTS.get(grantType);
  if (!grant || !offered(grantType!, deps)) {
    if (!grantType) fail("ERR_INVALID_REQUEST", "grant_type is required");
    fail(
      "ERR_UNSUPPORTED_GRANT_TYPE",
      `grant_type ${JSON.stringify(grantType)} is not supported (${
        grantTypes(deps).join(", ")
      })`,
    );
  }
  if (grantType === JWT_BEARER_GRANT && deps.federation.fromPeer(params)) {
    return await federatedTokenEndpoint(request, params, deps);
  }
  const authenticated = await grant.authenticate(request, params, deps);
  const { agent } = authenticated.client;
  try {
    const cnf = dpopBinding(request, deps);
    const plan = await grant.grant(authenticated.client, params, deps);
    if (cnf && plan.mayAct) {
      fail(
        "ERR_INVALID_REQUEST",
        "a delegation is traded by the agent it names, which does not hold your DPoP key: ask for it without a DPoP proof",
      );
    }
    const attestation = await clientAttestation(
      request,
      authenticated.client,
      plan.attestedBy,
      deps,
      "workload" in authenticated.singleUse,
    );
    return await issue(agentIssuing(authenticated, attestation, deps), plan, {
      action: grant.action,
      deps,
      cnf,
      attestation,
    });
  } catch (error) {
    await auditDenial(deps, error, agent.did, grant.action);
    throw error;
  }
}

async function auditDenial(
  deps: AppDeps,
  error: unknown,
  did: string,
  action: string,
): Promise<void> {
  if (error instanceof Auth4AgentError) {
    await audit(deps, {
      actor: did,
      action,
      target: did,
      outcome: "denied",
      reason: error.code,
    });
  }
}

/**
 * The jwt-bearer grant with a federation peer's access token: the token is
 * for that peer's agent, registered there (grants/federation.ts).
 */
async function federatedTokenEndpoint(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<Response> {
  const cnf = dpopBinding(request, deps);
  const verified = await verifyFederatedToken(request, params, deps);
  try {
    const federated = await federatedRequest(verified, params, deps, cnf);
    return await issue(federatedIssuing(federated, deps), federated.plan, {
      action: FEDERATED_ACTION,
      deps,
      cnf,
      federation: { iss: federated.peer, status: federated.peerStatus },
    });
  } catch (error) {
    await auditDenial(deps, error, verified.claims.sub, FEDERATED_ACTION);
    throw error;
  }
}

/** A client assertion (RFC 7523 §2.2) by an agent's own key. */
async function agentAuthentication(
  request: Request,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<Authenticated> {
  const { principal, singleUse } = await verifyClient(
    request,
    params,
    deps,
    PATHS.token,
  );
  if (principal.kind !== "agent") {
    // Authenticated, but not a client this grant is for (RFC 6749 §5.2).
    fail(
      "ERR_NOT_AN_AGENT",
      "only agents are issued tokens; an operator's key signs its requests to /v1",
    );
  }
  return { client: principal, singleUse };
}

/**
 * With a DPoP header (RFC 9449 §5), the token is bound to the proof's key.
 * The proof's jti needs no replay cache here: replaying a captured proof,
 * alone or with its whole request, gets a token bound to a key the replayer
 * does not hold — useless to it. (Requests authenticated by the agent's key
 * are single-use besides; a workload's platform token is not.)
 */
function dpopBinding(
  request: Request,
  deps: AppDeps,
): Confirmation | undefined {
  const proof = request.headers.get(DPOP_HEADER);
  if (proof === null) return undefined;
  const { jkt } = verifyDpopProof(proof, {
    method: request.method,
    url: endpointUrl(deps, PATHS.token),
    now: deps.now(),
  });
  return { jkt };
}

/** Who a token is issued to, and how its issuance is recorded. */
interface Issuing {
  did: string;
  /** The token ends by then at the latest (seconds): when the credential it came from does. */
  notAfter?: { at: number; code: ErrorCode; what: string };
  /** The audit entry's reason, for the token's scope. */
  reason(scope: string, plan: TokenPlan): string;
  /**
   * Records the token and its audit entry in one write, with the checks its
   * kind of client needs; throws the refusal when it is not recorded.
   */
  record(token: TokenRecord, event: AuditEvent): Promise<void>;
}

/**
 * An agent registered here: the store checks its status, key and grant
 * again in the write and consumes the request's challenge or jti with it.
 */
function agentIssuing(
  authenticated: Authenticated,
  attestation: VerifiedAttestation | undefined,
  deps: AppDeps,
): Issuing {
  const { singleUse, via, notAfter } = authenticated;
  const client = authenticated.client.agent;
  return {
    did: client.did,
    ...(notAfter !== undefined && {
      notAfter: {
        at: notAfter,
        code: "ERR_WORKLOAD_TOKEN_INVALID",
        what: "the workload token has expired",
      },
    }),
    reason: (scope, plan) => issuanceReason(scope, plan, via, attestation),
    async record(token, event) {
      const outcome = await deps.store.recordIssuance(
        token,
        event,
        singleUse,
        client.publicJwk,
        attestation?.iss,
      );
      if (outcome === "replayed") replayed(singleUse);
      if (changedInFlight(outcome)) {
        const changed = CHANGED_IN_FLIGHT[outcome];
        fail(
          changed.code,
          `${changed.what(singleUse)} while this request was in flight`,
        );
      }
      // Suspended or revoked while this request was in flight.
      if (outcome !== "recorded") requireActive({ ...client, status: outcome });
    },
  };
}

/**
 * A federation peer's agent: nothing of it is stored here to check again;
 * the write refuses it if an agent of its DID was registered here since.
 */
function federatedIssuing(
  federated: FederatedRequest,
  deps: AppDeps,
): Issuing {
  return {
    did: federated.did,
    notAfter: {
      at: federated.notAfter,
      code: "ERR_FEDERATED_TOKEN_INVALID",
      what: "the federated token has expired",
    },
    reason: (scope) =>
      `${scope} via federation ${federated.peer} (its token ${federated.peerJti})`,
    async record(token, event) {
      if (
        await deps.store.recordFederatedIssuance(token, event, {
          peer: federated.peer,
          status: federated.peerStatus,
        }) === "registered"
      ) registeredHere(federated.did);
    },
  };
}

/**
 * Signs and records the token. The challenge or jti is consumed in the same
 * write that records the token and its audit entry: one commit, durable
 * before the response (introspection and revocation depend on the record).
 */
async function issue(
  issuing: Issuing,
  plan: TokenPlan,
  options: {
    action: string;
    deps: AppDeps;
    cnf?: Confirmation;
    attestation?: VerifiedAttestation;
    /** The federation peer that vouched for `issuing`, and its token's status entry. */
    federation?: FederationClaim;
  },
): Promise<Response> {
  const { deps, cnf, attestation, federation } = options;
  const iat = nowSeconds(deps.now());
  const { notAfter } = issuing;
  // Taken within the clock leeway, but either would end the token at once.
  if (notAfter && notAfter.at <= iat) fail(notAfter.code, notAfter.what);
  if (attestation && attestation.exp <= iat) {
    fail("ERR_CLIENT_ATTESTATION_STALE", "the client attestation has expired");
  }
  const exp = Math.min(
    iat + plan.lifetime,
    plan.notAfter ?? Infinity,
    notAfter?.at ?? Infinity,
    attestation?.exp ?? Infinity,
  );
  // At once while the block lasts: no await (a turn of the event loop) then.
  const next = deps.statusIndexes.next();
  const statusIdx = typeof next === "number" ? next : await next;
  const claims: AccessTokenClaims = {
    iss: deps.issuer,
    sub: plan.subject,
    aud: plan.audience,
    scope: formatScope(plan.scopes),
    client_id: issuing.did,
    iat,
    exp,
    jti: newTokenId(deps.now()),
    domain: plan.domain,
    ...(plan.act && { act: plan.act }),
    ...(plan.mayAct && { may_act: { sub: plan.mayAct } }),
    status: statusClaim(deps.issuer, statusIdx),
    ...(cnf && { cnf }),
    ...(attestation &&
      { attestation: { iss: attestation.iss, jkt: attestation.jkt } }),
    ...(federation && { federation }),
  };
  await issuing.record(
    {
      jti: claims.jti,
      clientId: issuing.did,
      domain: plan.domain,
      audience: plan.audience,
      scope: claims.scope,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(claims.exp * 1000),
      statusIdx,
      ...(plan.act && { subject: plan.subject, parentJti: plan.parentJti }),
    },
    {
      at: deps.now(),
      actor: issuing.did,
      action: options.action,
      target: claims.jti,
      outcome: "success",
      reason: issuing.reason(claims.scope, plan),
    },
  );
  const accessToken = await signAccessToken(
    claims,
    deps.keys.signingKey(deps.now()),
  );
  // Everything read for this token was read before the write that recorded
  // it, and that write is durable: no need to wait for later commits.
  return coveredByItsWrite(json(
    {
      access_token: accessToken,
      // RFC 8693 §2.2.1: a token exchange's answer says what it issued. A
      // delegation says it is a JWT, no access token, but keeps "Bearer":
      // client_credentials clients (oauth4webapi) refuse other token types,
      // and its typ keeps resource servers from taking it.
      ...(plan.parentJti && { issued_token_type: ACCESS_TOKEN_TYPE }),
      ...(plan.mayAct && { issued_token_type: JWT_TOKEN_TYPE }),
      token_type: cnf ? DPOP_SCHEME : "Bearer",
      expires_in: exp - iat,
      scope: claims.scope,
    },
    200,
    { Pragma: "no-cache" },
  ));
}

/**
 * What committed between a token request's checks and its write, by the
 * write's outcome (store.ts): the request is refused as if it had come after.
 */
const CHANGED_IN_FLIGHT: Record<
  | "attestation_required"
  | "scope_not_granted"
  | "rotated"
  | "unbound"
  | "parent_revoked",
  { code: ErrorCode; what: (singleUse: SingleUse) => string }
> = {
  attestation_required: {
    code: "ERR_CLIENT_ATTESTATION_REQUIRED",
    what: () =>
      "the grant came to ask for a client attestation this request does not carry",
  },
  scope_not_granted: {
    code: "ERR_SCOPE_NOT_GRANTED",
    what: () => "a scope asked for was taken from the grant",
  },
  rotated: {
    code: "ERR_BAD_SIGNATURE",
    what: (singleUse) =>
      "workload" in singleUse
        ? "the agent's key was rotated (ask again)"
        : "the agent's key was rotated (sign with the new key)",
  },
  unbound: {
    code: "ERR_WORKLOAD_NOT_BOUND",
    what: () => "the workload identity was removed",
  },
  parent_revoked: {
    code: "ERR_SUBJECT_TOKEN_INVALID",
    what: () => "the subject token was revoked",
  },
};

function changedInFlight(
  outcome: string,
): outcome is keyof typeof CHANGED_IN_FLIGHT {
  return Object.hasOwn(CHANGED_IN_FLIGHT, outcome);
}

/** The audit entry's reason: the scope, for whom, how the client proved itself. */
function issuanceReason(
  scope: string,
  plan: TokenPlan,
  via: string | undefined,
  attestation: VerifiedAttestation | undefined,
): string {
  // A workload asks for its agent's own token: never delegated.
  const reason = plan.act
    ? `${scope} for ${plan.subject}`
    : via
    ? `${scope} via ${via}`
    : scope;
  return attestation ? `${reason}; attested by ${attestation.iss}` : reason;
}
