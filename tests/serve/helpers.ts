/**
 * The issuer app in-process for server tests: a fixed, movable clock, fake
 * DNS (a Map of TXT records), an in-memory or file SQLite store, and helpers
 * that make a registered and verified operator and a registered agent with a
 * grant through the real HTTP API (IssuerClient with an in-process fetch).
 * Raw request helpers return the Response, so tests can assert on the HTTP
 * status and the stable `error_code`.
 */
import { Federation } from "../../src/serve/federation.ts";
import { StatusListCache } from "../../src/serve/status_list_cache.ts";
import { StatusIndexes } from "../../src/serve/status_indexes.ts";
import assert from "node:assert/strict";
import * as jose from "jose";
import { IssuerClient, type Signer } from "../../src/client/issuer_client.ts";
import {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
} from "../../src/core/client_assertion.ts";
import { didForKey } from "../../src/core/did.ts";
import { randomToken, utf8 } from "../../src/core/encoding.ts";
import type { ErrorCode } from "../../src/core/errors.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair, type KeyPair } from "../../src/core/keys.ts";
import {
  createRequestProof,
  REQUEST_PROOF_HEADER,
} from "../../src/core/request_proof.ts";
import { createApp } from "../../src/serve/app.ts";
import type { AppDeps, RequestInfo } from "../../src/serve/context.ts";
import { RateLimiter } from "../../src/serve/rate_limit.ts";
import { KeyRing } from "../../src/serve/signing_keys.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import type { Store } from "../../src/store/store.ts";
import {
  CLIENT_ATTESTER,
  ForeignIssuers,
} from "../../src/serve/foreign_issuers.ts";
import { ForeignStatusLists } from "../../src/serve/foreign_status_lists.ts";

export const ISSUER = "http://issuer.test";
/** 2026-01-01T00:00:00Z: every fixture starts here unless told otherwise. */
export const START = new Date(Date.UTC(2026, 0, 1));

export const FORM = "application/x-www-form-urlencoded";
export const JSON_TYPE = "application/json";

/** A clock that moves only when a test moves it. */
export class Clock {
  #ms: number;

  constructor(start: Date = START) {
    this.#ms = start.getTime();
  }

  now = (): Date => new Date(this.#ms);

  advance(seconds: number): void {
    this.#ms += seconds * 1000;
  }

  set(at: Date): void {
    this.#ms = at.getTime();
  }
}

export interface FixtureOptions {
  /** A store to use (e.g. a SqliteStore on a temp file); default `:memory:`. */
  store?: Store;
  clock?: Clock;
  /** Per-client rate; per IP gets 10× as in `serve`. Default 0 (off). */
  rateLimit?: number;
  /** Per-client burst; default max(50, rateLimit) as in `serve`. */
  burst?: number;
  tokenTtl?: number;
  challengeTtl?: number;
  /** Shared TXT records (for several apps on one store). */
  dns?: Map<string, string[][]>;
  /** Trusted platforms (workload federation); default none. */
  workloadIssuers?: ForeignIssuers;
  clientAttesters?: ForeignIssuers;
  /** Federation peers; default none. */
  federation?: Federation;
  /** The workload platforms' status lists; default: of workloadIssuers, by the real fetch. */
  workloadStatusLists?: ForeignStatusLists;
  /**
   * The issuer identifier (deps.issuer); default ISSUER. Requests still go
   * to the app in-process; client assertions are made for this identifier.
   */
  issuer?: string;
}

export interface Fixture {
  app: (request: Request, info?: RequestInfo) => Promise<Response>;
  deps: AppDeps;
  store: Store;
  keys: KeyRing;
  clock: Clock;
  /** TXT records by name (lowercase, no trailing dot). */
  dns: Map<string, string[][]>;
  /** Names the fake resolver was asked for, in order. */
  dnsQueries: string[];
  /** Every log line the app wrote (unexpected errors land here). */
  logs: Record<string, unknown>[];
  fetch: typeof fetch;
  client: IssuerClient;
  /** Closes the store. */
  close(): Promise<void>;
}

const normalizeName = (name: string) => name.toLowerCase().replace(/\.$/, "");

export async function createFixture(
  options: FixtureOptions = {},
): Promise<Fixture> {
  const clock = options.clock ?? new Clock();
  const store = options.store ?? new SqliteStore(":memory:");
  const keys = await KeyRing.open(store, clock.now());
  const dns = options.dns ?? new Map<string, string[][]>();
  const dnsQueries: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const rate = options.rateLimit ?? 0;
  const burst = options.burst ?? Math.max(50, rate);
  const workloadIssuers = options.workloadIssuers ??
    new ForeignIssuers([], {
      fetch: () => Promise.reject(new Error("no platforms")),
    });
  const deps: AppDeps = {
    store,
    keys,
    statusIndexes: new StatusIndexes(store),
    statusLists: new StatusListCache(),
    issuer: options.issuer ?? ISSUER,
    now: clock.now,
    resolveTxt: (name) => {
      dnsQueries.push(name);
      return Promise.resolve(dns.get(normalizeName(name)) ?? []);
    },
    limits: {
      perClient: new RateLimiter(rate, burst),
      perIp: new RateLimiter(rate * 10, burst * 10),
    },
    tokenTtl: options.tokenTtl ?? 900,
    challengeTtl: options.challengeTtl ?? 120,
    workloadIssuers,
    workloadStatusLists: options.workloadStatusLists ??
      new ForeignStatusLists(workloadIssuers),
    clientAttesters: options.clientAttesters ??
      new ForeignIssuers([], {
        fetch: () => Promise.reject(new Error("no attesters")),
        role: CLIENT_ATTESTER,
      }),
    federation: options.federation ??
      new Federation([], {
        fetch: () => Promise.reject(new Error("no peers")),
      }),
    version: "test",
    log: (line) => logs.push(line),
  };
  const app = createApp(deps);
  const inProcessFetch: typeof fetch = (input, init) => {
    // The client's timeout signal is not needed in-process.
    const { signal: _signal, ...rest } = init ?? {};
    return app(new Request(input, rest));
  };
  return {
    app,
    deps,
    store,
    keys,
    clock,
    dns,
    dnsQueries,
    logs,
    fetch: inProcessFetch,
    client: new IssuerClient(ISSUER, {
      fetch: inProcessFetch,
      now: clock.now,
    }),
    close: () => store.close(),
  };
}

/** Runs `body` with a fresh fixture and always closes its store. */
export async function withFixture(
  body: (fx: Fixture) => Promise<void>,
  options: FixtureOptions = {},
): Promise<void> {
  const fx = await createFixture(options);
  try {
    await body(fx);
  } finally {
    await fx.close();
  }
}

/** A temporary folder removed after `body`, for file-backed stores. */
export async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-serve-test-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------
// Raw requests

export function send(
  fx: Fixture,
  path: string,
  init: RequestInit = {},
): Promise<Response> {
  return fx.app(new Request(ISSUER + path, init));
}

export function postForm(
  fx: Fixture,
  path: string,
  params: Record<string, string | undefined> | string,
  headers: Record<string, string> = {},
): Promise<Response> {
  let body: string;
  if (typeof params === "string") {
    body = params;
  } else {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined) form.set(name, value);
    }
    body = form.toString();
  }
  return send(fx, path, {
    method: "POST",
    headers: { "Content-Type": FORM, ...headers },
    body,
  });
}

export function postJson(
  fx: Fixture,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return send(fx, path, {
    method: "POST",
    headers: { "Content-Type": JSON_TYPE, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Reads a JSON body (consuming it). */
export async function body<T = Record<string, unknown>>(
  response: Response,
): Promise<T> {
  return await response.json() as T;
}

/**
 * Asserts an error response: status, stable `error_code`, OAuth `error` when
 * given, and the JSON error shape. Returns the body.
 */
export async function assertError(
  response: Response,
  status: number,
  code: ErrorCode,
  oauthError?: string,
): Promise<Record<string, unknown>> {
  const text = await response.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text);
  } catch {
    assert.fail(
      `expected a JSON error body, got HTTP ${response.status}: ${text}`,
    );
  }
  assert.equal(
    response.status,
    status,
    `expected HTTP ${status} ${code}, got ${response.status}: ${text}`,
  );
  assert.equal(parsed.error_code, code, text);
  if (oauthError !== undefined) assert.equal(parsed.error, oauthError, text);
  assert.equal(typeof parsed.error_description, "string");
  return parsed;
}

/** Asserts a 2xx JSON response and returns its body. */
export async function assertOk<T = Record<string, unknown>>(
  response: Response,
  status = 200,
): Promise<T> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  return JSON.parse(text) as T;
}

// ---------------------------------------------------------------------------
// Signed requests (operator actions and registrations)

export async function freshNonce(fx: Fixture): Promise<string> {
  const response = await send(fx, "/v1/nonce", { method: "POST" });
  return (await assertOk<{ nonce: string }>(response, 201)).nonce;
}

export interface SignedRequestOptions {
  /** Use this nonce instead of asking for a fresh one. */
  nonce?: string;
  /** Sign a different path than the one requested. */
  proofPath?: string;
  /** Sign different body bytes than the ones sent. */
  proofBody?: Uint8Array<ArrayBuffer>;
  /** Send this proof header as is. */
  proof?: string;
  /** Sign at this time instead of the fixture's clock. */
  signedAt?: Date;
}

/**
 * Sends a request signed with a request proof, exactly once (no nonce retry),
 * and returns the response and the proof, so a test can replay it.
 */
export async function signedRequest(
  fx: Fixture,
  method: string,
  path: string,
  json: unknown,
  signer: Signer,
  options: SignedRequestOptions = {},
): Promise<{ response: Response; proof: string }> {
  const bytes = json === undefined
    ? new Uint8Array(0)
    : utf8(typeof json === "string" ? json : JSON.stringify(json));
  const proof = options.proof ?? await createRequestProof({
    method,
    path: options.proofPath ?? path,
    body: options.proofBody ?? bytes,
    nonce: options.nonce ?? await freshNonce(fx),
    privateKey: signer.privateKey,
    now: options.signedAt ?? fx.clock.now(),
    kid: signer.kid,
    jwk: signer.kid ? undefined : signer.publicJwk,
  });
  const headers: Record<string, string> = { [REQUEST_PROOF_HEADER]: proof };
  if (json !== undefined) headers["Content-Type"] = JSON_TYPE;
  const response = await send(fx, path, {
    method,
    headers,
    body: json === undefined ? undefined : bytes,
  });
  return { response, proof };
}

// ---------------------------------------------------------------------------
// Operators and agents

export interface TestOperator {
  id: string;
  domain: string;
  pair: KeyPair;
  /** Signs as the registered operator (`kid` = id). */
  signer: Signer;
  dnsRecord: { name: string; type: string; value: string };
}

export interface TestAgent {
  did: string;
  domain: string;
  pair: KeyPair;
  /** Signs as the registered agent (`kid` = DID). */
  signer: Signer;
}

export async function registerOperator(
  fx: Fixture,
  domain = "example.com",
  pair?: KeyPair,
): Promise<TestOperator> {
  pair ??= await generateKeyPair();
  const status = await fx.client.registerOperator(domain, {
    privateKey: pair.privateKey,
    publicJwk: pair.publicJwk,
  });
  assert.ok(status.dns_record, "registration returns the DNS record");
  return {
    id: status.operator_id,
    domain: status.domain,
    pair,
    signer: { privateKey: pair.privateKey, kid: status.operator_id },
    dnsRecord: status.dns_record,
  };
}

/** Publishes the operator's TXT record in the fake DNS (alongside others). */
export function publishDnsRecord(fx: Fixture, operator: TestOperator): void {
  const name = normalizeName(operator.dnsRecord.name);
  const records = fx.dns.get(name) ?? [];
  fx.dns.set(name, [...records, [operator.dnsRecord.value]]);
}

export async function verifyOperator(
  fx: Fixture,
  operator: TestOperator,
): Promise<void> {
  publishDnsRecord(fx, operator);
  const status = await fx.client.verifyDomain(operator.id, operator.signer);
  assert.equal(status.verified, true);
}

export async function createVerifiedOperator(
  fx: Fixture,
  domain = "example.com",
): Promise<TestOperator> {
  const operator = await registerOperator(fx, domain);
  await verifyOperator(fx, operator);
  return operator;
}

/** Makes a key pair and its DID under `domain` (not registered). */
export async function agentIdentity(
  domain = "example.com",
): Promise<TestAgent> {
  const pair = await generateKeyPair();
  const did = await didForKey(domain, pair.publicJwk);
  return {
    did,
    domain,
    pair,
    signer: { privateKey: pair.privateKey, kid: did },
  };
}

/**
 * Registers an agent under the operator and, unless `scopes` is null, has the
 * operator grant it scopes (default `read:data write:data`).
 */
export async function createAgent(
  fx: Fixture,
  operator: TestOperator,
  options: { scopes?: string[] | null; domain?: string } = {},
): Promise<TestAgent> {
  const agent = await agentIdentity(options.domain ?? operator.domain);
  await fx.client.registerAgent(agent.did, operator.id, {
    privateKey: agent.pair.privateKey,
    publicJwk: agent.pair.publicJwk,
  });
  const scopes = options.scopes === undefined
    ? ["read:data", "write:data"]
    : options.scopes;
  if (scopes !== null) {
    await fx.client.setAgentScopes(agent.did, scopes, operator.signer);
  }
  return agent;
}

/** A verified operator of example.com and one agent with a grant. */
export async function setup(
  fx: Fixture,
  scopes: string[] = ["read:data", "write:data"],
): Promise<{ operator: TestOperator; agent: TestAgent }> {
  const operator = await createVerifiedOperator(fx);
  const agent = await createAgent(fx, operator, { scopes });
  return { operator, agent };
}

// ---------------------------------------------------------------------------
// Client assertions and tokens

export async function challengeNonce(
  fx: Fixture,
  did: string,
): Promise<string> {
  const response = await postJson(fx, "/v1/challenges", { client_id: did });
  return (await assertOk<{ nonce: string }>(response, 201)).nonce;
}

export interface AssertionOptions {
  nonce?: string;
  /** Default: the fixture's issuer identifier. */
  aud?: string | string[];
  /** `exp` − `iat`, default 60 s. */
  lifetime?: number;
  alg?: "EdDSA" | "Ed25519";
  jti?: string;
  /** Sign with this key instead of the agent's. */
  privateKey?: CryptoKey;
  /** iss = sub = this instead of the agent's DID. */
  clientId?: string;
}

/** A client assertion built by hand, so tests control every claim. */
export async function assertion(
  fx: Fixture,
  clientId: string,
  privateKey: CryptoKey,
  options: AssertionOptions = {},
): Promise<string> {
  const iat = nowSeconds(fx.clock.now());
  const claims: Record<string, unknown> = {
    iss: options.clientId ?? clientId,
    sub: options.clientId ?? clientId,
    aud: options.aud ?? fx.deps.issuer,
    jti: options.jti ?? randomToken(16),
    iat,
    exp: iat + (options.lifetime ?? 60),
  };
  if (options.nonce !== undefined) claims.nonce = options.nonce;
  return await new jose.SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "EdDSA", typ: "JWT" })
    .sign(options.privateKey ?? privateKey);
}

/** Client authentication parameters as the core library makes them. */
export async function clientAuth(
  fx: Fixture,
  clientId: string,
  privateKey: CryptoKey,
  nonce?: string,
): Promise<Record<string, string>> {
  return {
    client_id: clientId,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await createClientAssertion({
      clientId,
      audience: fx.deps.issuer,
      privateKey,
      now: fx.clock.now(),
      nonce,
    }),
  };
}

/** Token request parameters with a hand-built assertion. */
export async function tokenParams(
  fx: Fixture,
  agent: TestAgent,
  options: AssertionOptions & { extra?: Record<string, string> } = {},
): Promise<Record<string, string>> {
  return {
    grant_type: "client_credentials",
    client_id: options.clientId ?? agent.did,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await assertion(
      fx,
      agent.did,
      agent.pair.privateKey,
      options,
    ),
    ...options.extra,
  };
}

/** Challenge flow: asks a challenge, signs it, posts to /oauth/token. */
export async function requestTokenWithChallenge(
  fx: Fixture,
  agent: TestAgent,
  extra: Record<string, string> = {},
): Promise<Response> {
  const nonce = await challengeNonce(fx, agent.did);
  return await postForm(
    fx,
    "/oauth/token",
    await tokenParams(fx, agent, { nonce, extra }),
  );
}

/** Issues a token through the challenge flow and returns it. */
export async function issueToken(
  fx: Fixture,
  agent: TestAgent,
  extra: Record<string, string> = {},
): Promise<string> {
  const response = await requestTokenWithChallenge(fx, agent, extra);
  return (await assertOk<{ access_token: string }>(response)).access_token;
}

/** Posts a token to the introspection endpoint as `caller`. */
export async function introspect(
  fx: Fixture,
  token: string,
  caller: { id: string; privateKey: CryptoKey },
): Promise<Response> {
  return await postForm(fx, "/oauth/introspect", {
    token,
    ...(await clientAuth(fx, caller.id, caller.privateKey)),
  });
}

export async function revoke(
  fx: Fixture,
  token: string,
  caller: { id: string; privateKey: CryptoKey },
): Promise<Response> {
  return await postForm(fx, "/oauth/revoke", {
    token,
    ...(await clientAuth(fx, caller.id, caller.privateKey)),
  });
}

export const asCaller = (who: TestAgent | TestOperator) => ({
  id: "did" in who ? who.did : who.id,
  privateKey: who.pair.privateKey,
});

/** Fails the test when the app logged an unexpected (5xx) error. */
export function assertNoInternalErrors(fx: Fixture): void {
  const errors = fx.logs.filter((line) => line.level === "error");
  assert.deepEqual(errors, [], "the app logged unexpected errors");
}
