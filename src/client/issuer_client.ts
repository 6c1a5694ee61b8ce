/**
 * A typed HTTP client of the issuer API, used by the CLI commands and by
 * library users (mod.ts). It signs operator actions and registrations
 * (request proofs with a fresh server nonce) and client assertions.
 */
import {
  MAX_STATUS_LIST_JWS_LENGTH,
  STATUS_LIST_MEDIA_TYPE,
} from "../core/status_list.ts";
import {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
} from "../core/client_assertion.ts";
import { readCappedBody } from "../core/capped_body.ts";
import { createDpopProof, DPOP_HEADER } from "../core/dpop.ts";
import { inspectJws } from "../core/jws.ts";
import {
  ATTESTATION_HEADER,
  ATTESTATION_POP_HEADER,
  createAttestationPop,
} from "../core/client_attestation.ts";
import { JWT_BEARER_GRANT } from "../core/workload_token.ts";
import { fromUtf8, utf8 } from "../core/encoding.ts";
import {
  Auth4AgentError,
  type ErrorCode,
  fail,
  isErrorCode,
  sentByIssuers,
} from "../core/errors.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";
import {
  createRequestProof,
  REQUEST_PROOF_HEADER,
} from "../core/request_proof.ts";

export interface Signer {
  privateKey: CryptoKey;
  /** A registered signer's id (operator id or agent DID)… */
  kid?: string;
  /** …or the public key, when registering it. */
  publicJwk?: Ed25519PublicJwk;
}

export interface ServerMetadata {
  issuer: string;
  token_endpoint: string;
  jwks_uri: string;
  introspection_endpoint: string;
  revocation_endpoint: string;
  challenge_endpoint?: string;
  [name: string]: unknown;
}

export interface TokenResponse {
  access_token: string;
  /** Token exchange (RFC 8693 §2.2.1) only. */
  issued_token_type?: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

/** What an agent asks of a token; with `subjectToken`, a token exchange (delegation). */
export interface TokenRequest {
  scope?: string;
  audience?: string;
  expiresIn?: number;
  /** Let this agent (a DID) act for the token's subject by exchanging it here. */
  mayAct?: string;
  /** A token whose `may_act` names this agent: act for its subject (RFC 8693). */
  subjectToken?: string;
  /**
   * Bind the token to this key (DPoP, RFC 9449): it is then presented with
   * the `DPoP` scheme and a proof by this key (`createDpopProof`) per request.
   */
  dpop?: { privateKey: CryptoKey; publicJwk: Ed25519PublicJwk };
  /**
   * A client attestation (OAuth-Client-Attestation) and the Ed25519 key of
   * its `cnf`, which signs a fresh PoP for each request.
   */
  attestation?: { jwt: string; privateKey: CryptoKey };
}

/** A platform identity an operator binds to an agent (workload federation). */
export interface WorkloadIdentity {
  issuer: string;
  subject: string;
  audience?: string;
}

export interface WorkloadIdentityView {
  issuer: string;
  subject: string;
  audience: string | null;
  created_at: string;
  created_by: string;
}

export const TOKEN_EXCHANGE_GRANT =
  "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export interface Challenge {
  nonce: string;
  audience: string;
  expires_in: number;
  expires_at: string;
}

export interface DnsRecord {
  name: string;
  type: "TXT";
  value: string;
}

export interface OperatorStatus {
  operator_id: string;
  domain: string;
  verified: boolean;
  verified_at: string | null;
  dns_record?: DnsRecord;
}

export interface AgentStatus {
  did: string;
  domain: string;
  operator_id: string;
  status: string;
  created_at: string;
}

export interface Revocations {
  domain: string;
  agents: (AgentStatus & {
    status_changed_at: string | null;
    status_changed_by: string | null;
    reason: string | null;
  })[];
  tokens: {
    jti: string;
    client_id: string;
    /** A delegated token's subject, the agent it acted for. */
    sub?: string;
    scope: string;
    expires_at: string;
    revoked_at: string | null;
    revoked_by: string | null;
    reason: string | null;
  }[];
}

export type Jwks = { keys: (Ed25519PublicJwk & { kid: string })[] };

const TIMEOUT_MS = 15_000;

/** The metadata fields this client uses (RFC 8414 §2: all URLs). */
const METADATA_URLS = [
  "issuer",
  "token_endpoint",
  "jwks_uri",
  "introspection_endpoint",
  "revocation_endpoint",
] as const;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== "string" || !URL.canParse(value)) return false;
  return /^https?:$/.test(new URL(value).protocol);
}

function parseMetadata(body: Record<string, unknown>): ServerMetadata {
  for (const name of METADATA_URLS) {
    if (!isHttpUrl(body[name])) {
      fail(
        "ERR_ISSUER_RESPONSE",
        `the issuer's metadata ${name} must be an absolute http(s) URL, not ${
          JSON.stringify(body[name]) ?? "missing"
        }`,
      );
    }
  }
  return body as ServerMetadata;
}

/**
 * The code of an error answer without an auth4agent `error_code`: a proxy's
 * page, a wrong URL, another kind of server. Only 429 and 403 say what went
 * wrong by themselves; anything else is the issuer answering oddly (a 404 is
 * not "forbidden").
 */
function codeForBareStatus(status: number): ErrorCode {
  if (status === 429) return "ERR_RATE_LIMITED";
  if (status === 403) return "ERR_FORBIDDEN";
  return "ERR_ISSUER_RESPONSE";
}

/**
 * A refusal in the issuer's own words: its answer carried an auth4agent
 * `error_code` that issuers send. An error without one (a proxy's 403, a
 * timeout) says nothing certain about what the issuer did.
 */
export class IssuerError extends Auth4AgentError {}

export class IssuerClient {
  readonly server: string;
  readonly #fetch: typeof fetch;
  readonly #now: () => Date;
  #metadata?: ServerMetadata;

  constructor(
    server: string,
    options: { fetch?: typeof fetch; now?: () => Date } = {},
  ) {
    this.server = server.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? fetch;
    this.#now = options.now ?? (() => new Date());
  }

  async #send(path: string, init: RequestInit): Promise<Response> {
    const url = path.startsWith("http") ? path : this.server + path;
    try {
      return await this.#fetch(url, {
        ...init,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (cause) {
      throw new Auth4AgentError(
        "ERR_ISSUER_UNREACHABLE",
        `cannot reach the issuer at ${this.server} (${
          (cause as Error).message
        })`,
        { cause },
      );
    }
  }

  /** The JSON object of an answer; `ok` says whether its status carries a result. */
  async #read<T>(response: Response, ok = response.ok): Promise<T> {
    const text = await response.text();
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : {};
    } catch {
      // handled below
    }
    if (!ok) {
      const error = (isObject(body) ? body : {}) as Record<string, unknown>;
      const code = error.error_code;
      const headers = Object.fromEntries(response.headers);
      const described = typeof error.error_description === "string"
        ? error.error_description
        : undefined;
      if (typeof code === "string" && isErrorCode(code)) {
        const description = described ?? `HTTP ${response.status}`;
        if (sentByIssuers(code)) {
          throw new IssuerError(code, description, { headers });
        }
        // ERR_USAGE, ERR_HOME_MISSING…: claims about this side that no
        // issuer makes; believed, they would pick the CLI's exit code.
        fail(
          "ERR_ISSUER_RESPONSE",
          `the issuer at ${this.server} answered with ${code}, a code issuers do not send: ${description}`,
        );
      }
      throw new Auth4AgentError(
        codeForBareStatus(response.status),
        described ??
          `the issuer at ${this.server} answered HTTP ${response.status}${
            response.status < 500
              ? " without an auth4agent error (is that the issuer's URL?)"
              : ""
          }`,
        { headers },
      );
    }
    if (body === undefined) {
      throw new Auth4AgentError(
        "ERR_ISSUER_RESPONSE",
        `the issuer answered with something that is not JSON (HTTP ${response.status})`,
      );
    }
    if (!isObject(body)) {
      const what = body === null
        ? "null"
        : Array.isArray(body)
        ? "an array"
        : `a ${typeof body}`;
      fail(
        "ERR_ISSUER_RESPONSE",
        `the issuer answered ${what} where a JSON object was expected (HTTP ${response.status})`,
      );
    }
    return body as T;
  }

  async #getJson<T>(path: string): Promise<T> {
    return await this.#read<T>(
      await this.#send(path, { headers: { Accept: "application/json" } }),
    );
  }

  async metadata(): Promise<ServerMetadata> {
    this.#metadata ??= this.#ownIssuer(parseMetadata(
      await this.#getJson("/.well-known/oauth-authorization-server"),
    ));
    return this.#metadata;
  }

  /**
   * RFC 8414 §3.3: the metadata's `issuer` must be identical to the URL it
   * was fetched from, else it is not used: a server naming another issuer
   * would have its keys trusted for that issuer's tokens.
   */
  #ownIssuer(metadata: ServerMetadata): ServerMetadata {
    if (metadata.issuer !== this.server) {
      fail(
        "ERR_ISSUER_RESPONSE",
        `the server at ${this.server} says its issuer identifier is ${
          JSON.stringify(metadata.issuer)
        }; they must be identical (RFC 8414): use that URL as the server`,
      );
    }
    return metadata;
  }

  async jwks(): Promise<Jwks> {
    const jwks = await this.#getJson<Jwks>((await this.metadata()).jwks_uri);
    if (!Array.isArray(jwks.keys)) {
      throw new Auth4AgentError(
        "ERR_ISSUER_RESPONSE",
        "the issuer's JWKS has no keys array",
      );
    }
    // Entries that are not objects are dropped, as the verifier skips any key it cannot use.
    return { keys: jwks.keys.filter((key: unknown) => isObject(key)) };
  }

  /**
   * The status list token at `uri` (draft-ietf-oauth-status-list §8.1),
   * unverified: TokenVerifier checks it. Its type and length are checked
   * before its body is read, and the body is read up to the longest list
   * only. An answer that breaks off, a 5xx or a 429 is
   * ERR_ISSUER_UNREACHABLE: the verifier then keeps the list it holds.
   */
  async statusList(uri: string): Promise<string> {
    const response = await this.#send(uri, {
      headers: { Accept: STATUS_LIST_MEDIA_TYPE },
    });
    // The issuer failing or shedding load (its database down, a 429 for an
    // egress IP that many verifiers share) is not a verdict on the list: the
    // verifier keeps the one it holds, as when the issuer cannot be reached.
    if (response.status >= 500 || response.status === 429) {
      await response.body?.cancel();
      fail(
        "ERR_ISSUER_UNREACHABLE",
        `the issuer's status list at ${uri} is unavailable (HTTP ${response.status})`,
      );
    }
    if (!response.ok) await this.#read(response);
    const type = (response.headers.get("Content-Type") ?? "").split(";")[0]!
      .trim().toLowerCase();
    const length = Number(response.headers.get("Content-Length") ?? 0);
    if (
      type !== STATUS_LIST_MEDIA_TYPE ||
      length > MAX_STATUS_LIST_JWS_LENGTH
    ) {
      await response.body?.cancel();
      fail(
        "ERR_ISSUER_RESPONSE",
        `the status list at ${uri} is not ${STATUS_LIST_MEDIA_TYPE} of at most ${MAX_STATUS_LIST_JWS_LENGTH} bytes`,
      );
    }
    return (await readCapped(response, MAX_STATUS_LIST_JWS_LENGTH, uri))
      .trim();
  }

  async health(): Promise<Record<string, unknown>> {
    const response = await this.#send("/healthz", {});
    const body = await response.json().catch(() => ({}));
    return { ...body, http_status: response.status };
  }

  async #nonce(): Promise<string> {
    const response = await this.#send("/v1/nonce", { method: "POST" });
    return (await this.#read<{ nonce: string }>(response)).nonce;
  }

  /** Sends a request signed with a request proof; retries once with a fresh nonce if the issuer asks. */
  async signed<T>(
    method: string,
    path: string,
    body: unknown,
    signer: Signer,
  ): Promise<T> {
    const bytes = body === undefined
      ? new Uint8Array(0)
      : utf8(JSON.stringify(body));
    let nonce = await this.#nonce();
    for (let attempt = 0;; attempt++) {
      const proof = await createRequestProof({
        method,
        path,
        body: bytes,
        nonce,
        privateKey: signer.privateKey,
        now: this.#now(),
        kid: signer.kid,
        jwk: signer.kid ? undefined : signer.publicJwk,
      });
      const headers: Record<string, string> = {
        [REQUEST_PROOF_HEADER]: proof,
        Accept: "application/json",
      };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      const response = await this.#send(path, {
        method,
        headers,
        body: body === undefined ? undefined : bytes,
      });
      const fresh = response.headers.get("Auth4Agent-Nonce");
      if (response.status === 401 && fresh && attempt === 0) {
        await response.body?.cancel();
        nonce = fresh;
        continue;
      }
      return await this.#read<T>(response);
    }
  }

  async #form<T>(
    url: string,
    params: Record<string, string | undefined>,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) form.set(name, value);
    }
    return await this.#read<T>(
      await this.#send(url, {
        method: "POST",
        headers: {
          ...headers,
          "Content-Type": "application/x-www-form-urlencoded",
          Accept: "application/json",
        },
        body: form.toString(),
      }),
    );
  }

  /**
   * A token asked for with a DPoP proof must come back bound (RFC 9449 §5);
   * one asked for with a client attestation, attested: an issuer that
   * trusts no attester ignores the headers.
   */
  static #requireProofsTaken(
    response: TokenResponse,
    request: Pick<TokenRequest, "dpop" | "attestation">,
  ): TokenResponse {
    if (request.dpop && response.token_type?.toLowerCase() !== "dpop") {
      fail(
        "ERR_ISSUER_RESPONSE",
        `asked for a DPoP-bound token, the issuer answered token_type ${
          JSON.stringify(response.token_type)
        }`,
      );
    }
    if (
      request.attestation &&
      inspectJws(response.access_token, "ERR_ISSUER_RESPONSE").payload
          .attestation === undefined
    ) {
      fail(
        "ERR_ATTESTATION_IGNORED",
        "sent a client attestation, the issuer's token says nothing of it: the issuer trusts no attester (serve --client-attester)",
      );
    }
    return response;
  }

  /**
   * A token request's proof headers, fresh each: `DPoP` for a token to be
   * bound, the client attestation and its PoP for an attested one.
   */
  async #proofHeaders(
    request: Pick<TokenRequest, "dpop" | "attestation">,
  ): Promise<Record<string, string>> {
    const { issuer, token_endpoint } = await this.metadata();
    const { dpop, attestation } = request;
    return {
      ...(dpop && {
        [DPOP_HEADER]: createDpopProof({
          ...dpop,
          method: "POST",
          url: token_endpoint,
          now: this.#now(),
        }),
      }),
      ...(attestation && {
        [ATTESTATION_HEADER]: attestation.jwt,
        [ATTESTATION_POP_HEADER]: createAttestationPop({
          audience: issuer,
          privateKey: attestation.privateKey,
          now: this.#now(),
        }),
      }),
    };
  }

  /** RFC 7523 client authentication parameters for a fresh assertion. */
  async clientAuthentication(
    clientId: string,
    privateKey: CryptoKey,
    nonce?: string,
  ): Promise<Record<string, string>> {
    const { issuer } = await this.metadata();
    return {
      client_id: clientId,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: await createClientAssertion({
        clientId,
        audience: issuer,
        privateKey,
        now: this.#now(),
        nonce,
      }),
    };
  }

  registerOperator(domain: string, signer: Signer): Promise<OperatorStatus> {
    return this.signed("POST", "/v1/operators", { domain }, signer);
  }

  operator(id: string): Promise<OperatorStatus> {
    return this.#getJson(`/v1/operators/${encodeURIComponent(id)}`);
  }

  dnsRecord(
    operatorId: string,
    signer: Signer,
  ): Promise<OperatorStatus & { dns_record: DnsRecord }> {
    return this.signed(
      "GET",
      `/v1/operators/${operatorId}/dns-record`,
      undefined,
      signer,
    );
  }

  verifyDomain(operatorId: string, signer: Signer): Promise<OperatorStatus> {
    return this.signed(
      "POST",
      `/v1/operators/${operatorId}/verify`,
      {},
      signer,
    );
  }

  registerAgent(
    did: string,
    operatorId: string,
    signer: Signer,
  ): Promise<AgentStatus> {
    return this.signed(
      "POST",
      "/v1/agents",
      { did, operator_id: operatorId },
      signer,
    );
  }

  agent(did: string): Promise<AgentStatus> {
    return this.#getJson(`/v1/agents/${did}`);
  }

  /**
   * The DID document; for a deactivated (revoked) DID, the issuer's DID
   * resolution result (`didDocument`, `didDocumentMetadata.deactivated`).
   */
  async didDocument(did: string): Promise<Record<string, unknown>> {
    const response = await this.#send(`/v1/agents/${did}/did.json`, {
      headers: { Accept: "application/did+json" },
    });
    return await this.#read(response, response.ok || response.status === 410);
  }

  /**
   * Replaces the agent's scopes. `requireAttestation` names attesters of
   * which each of its token requests must then carry a client attestation
   * (`[]`: none); left out, the grant's requirement stays as it is.
   */
  setAgentScopes(
    did: string,
    scopes: string[],
    signer: Signer,
    options: { requireAttestation?: string[] } = {},
  ): Promise<{ did: string; scopes: string[]; require_attestation: string[] }> {
    return this.signed("PUT", `/v1/agents/${did}/scopes`, {
      scopes,
      ...(options.requireAttestation !== undefined &&
        { require_attestation: options.requireAttestation }),
    }, signer);
  }

  /** Operator action: let this platform identity obtain the agent's tokens (workload federation). */
  addWorkloadIdentity(
    did: string,
    identity: WorkloadIdentity,
    signer: Signer,
  ): Promise<WorkloadIdentityView & { did: string }> {
    return this.signed(
      "POST",
      `/v1/agents/${did}/workload-identities`,
      identity,
      signer,
    );
  }

  workloadIdentities(did: string, signer: Signer): Promise<{
    did: string;
    workload_identities: WorkloadIdentityView[];
    trusted_issuers: string[];
  }> {
    return this.signed(
      "GET",
      `/v1/agents/${did}/workload-identities`,
      undefined,
      signer,
    );
  }

  removeWorkloadIdentity(
    did: string,
    identity: { issuer: string; subject: string },
    signer: Signer,
  ): Promise<{ did: string; issuer: string; subject: string }> {
    const query = new URLSearchParams(identity);
    return this.signed(
      "DELETE",
      `/v1/agents/${did}/workload-identities?${query}`,
      undefined,
      signer,
    );
  }

  /**
   * Workload federation (RFC 7523 §2.1): trades the JWT a platform gave this
   * workload for a token of the agent its identity is bound to — no agent
   * key needed. `dpop` binds the token to that key (RFC 9449).
   */
  workloadToken(
    did: string,
    assertion: string,
    request: Omit<TokenRequest, "mayAct" | "subjectToken">,
  ): Promise<TokenResponse> {
    return this.#jwtBearer(assertion, did, request);
  }

  /**
   * Federation (RFC 7523 §2.1): trades `assertion`, an access token that
   * this issuer's federation peer gave one of its agents with this issuer as
   * audience, for this issuer's token for that agent. A token bound to a
   * DPoP key is traded with `dpop`, that key: this token is then bound to it.
   */
  federatedToken(
    assertion: string,
    request: Omit<TokenRequest, "mayAct" | "subjectToken" | "attestation">,
  ): Promise<TokenResponse> {
    return this.#jwtBearer(assertion, undefined, request);
  }

  /** The jwt-bearer grant (RFC 7523 §2.1): `assertion` is the credential. */
  async #jwtBearer(
    assertion: string,
    clientId: string | undefined,
    request: Omit<TokenRequest, "mayAct" | "subjectToken">,
  ): Promise<TokenResponse> {
    const { token_endpoint } = await this.metadata();
    const response = await this.#form<TokenResponse>(
      token_endpoint,
      {
        grant_type: JWT_BEARER_GRANT,
        assertion,
        client_id: clientId,
        scope: request.scope,
        audience: request.audience,
        expires_in: request.expiresIn?.toString(),
      },
      await this.#proofHeaders(request),
    );
    return IssuerClient.#requireProofsTaken(response, request);
  }

  agentScopes(
    did: string,
    signer: Signer,
  ): Promise<
    {
      did: string;
      scopes: string[];
      require_attestation: string[];
      updated_at: string | null;
    }
  > {
    return this.signed("GET", `/v1/agents/${did}/scopes`, undefined, signer);
  }

  async challenge(did: string): Promise<Challenge> {
    return await this.#read<Challenge>(
      await this.#send("/v1/challenges", {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
        },
        body: JSON.stringify({ client_id: did }),
      }),
    );
  }

  /**
   * The seed's flow: challenge → proof signed with the agent's key → token.
   * When the challenge was used or expired meanwhile, asks once for a new one.
   * With `subjectToken` the grant is a token exchange (RFC 8693): a token to
   * act for that token's subject.
   */
  async issueToken(
    did: string,
    privateKey: CryptoKey,
    request: TokenRequest,
  ): Promise<TokenResponse> {
    const grant = request.subjectToken === undefined
      ? { grant_type: "client_credentials" }
      : {
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: request.subjectToken,
        subject_token_type: ACCESS_TOKEN_TYPE,
      };
    const { token_endpoint } = await this.metadata();
    for (let attempt = 0;; attempt++) {
      const challenge = await this.challenge(did);
      try {
        const response = await this.#form<TokenResponse>(
          token_endpoint,
          {
            ...grant,
            ...(await this.clientAuthentication(
              did,
              privateKey,
              challenge.nonce,
            )),
            scope: request.scope,
            audience: request.audience,
            expires_in: request.expiresIn?.toString(),
            may_act: request.mayAct,
          },
          await this.#proofHeaders(request),
        );
        return IssuerClient.#requireProofsTaken(response, request);
      } catch (error) {
        const stale = error instanceof Auth4AgentError &&
          error.code === "ERR_CHALLENGE_INVALID";
        if (!stale || attempt > 0) throw error;
      }
    }
  }

  async introspect(
    token: string,
    clientId: string,
    privateKey: CryptoKey,
  ): Promise<Record<string, unknown> & { active: boolean }> {
    const { introspection_endpoint } = await this.metadata();
    return await this.#form(introspection_endpoint, {
      token,
      ...(await this.clientAuthentication(clientId, privateKey)),
    });
  }

  async revoke(
    token: string,
    clientId: string,
    privateKey: CryptoKey,
    reason?: string,
  ): Promise<Record<string, unknown>> {
    const { revocation_endpoint } = await this.metadata();
    return await this.#form(revocation_endpoint, {
      token,
      reason,
      ...(await this.clientAuthentication(clientId, privateKey)),
    });
  }

  /** The agent replaces its key: signed with the current key, `statement` with the new one. */
  rotateAgentKey(
    did: string,
    statement: string,
    signer: Signer,
  ): Promise<AgentStatus & { key_thumbprint: string }> {
    return this.signed("POST", `/v1/agents/${did}/key`, { statement }, signer);
  }

  /** Operator action: `suspend`, `reactivate` or `revoke` an agent. */
  changeAgentStatus(
    did: string,
    action: "suspend" | "reactivate" | "revoke",
    reason: string | undefined,
    signer: Signer,
  ): Promise<AgentStatus & { tokens_revoked: number; reason: string | null }> {
    return this.signed(
      "POST",
      `/v1/agents/${did}/${action}`,
      reason === undefined ? {} : { reason },
      signer,
    );
  }

  revocations(operatorId: string, signer: Signer): Promise<Revocations> {
    return this.signed(
      "GET",
      `/v1/operators/${operatorId}/revocations`,
      undefined,
      signer,
    );
  }
}

/** The body as text, refused past `max` bytes without reading further. */
async function readCapped(
  response: Response,
  max: number,
  what: string,
): Promise<string> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readCappedBody(response.body, max);
  } catch (error) {
    throw new Auth4AgentError(
      "ERR_ISSUER_UNREACHABLE",
      `the answer from ${what} broke off (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (!bytes) {
    fail("ERR_ISSUER_RESPONSE", `${what} is longer than ${max} bytes`);
  }
  try {
    return fromUtf8(bytes);
  } catch {
    fail("ERR_ISSUER_RESPONSE", `${what} is not UTF-8`);
  }
}
