/**
 * Federation trust between issuers, in-process: a second fixture is peer A
 * (issuer `https://a.example`, its agents of partner.example registered
 * there), whose RFC 8414 metadata, JWKS and status lists this issuer (B, the
 * fixture under test) reads through an injected fetch that hands the
 * request to A's app. A's agent asks A for a token whose audience is B, and
 * trades it at B's token endpoint (RFC 7523 §2.1): accepted within the
 * domains and scopes B's federation file trusts A for, refused otherwise
 * with its status and stable code. Tokens A would never issue (another typ,
 * a delegation, another client) are A's own ones signed again with A's key.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import { createDpopProof } from "../../src/core/dpop.ts";
import { nowSeconds, signCompactJws } from "../../src/core/jws.ts";
import { generateKeyPair, type KeyPair } from "../../src/core/keys.ts";
import {
  STATUS_LIST_TTL_SECONDS,
  statusClaim,
  statusListUri,
} from "../../src/core/status_list.ts";
import { Federation, type FederationPeer } from "../../src/serve/federation.ts";
import { mirrorPeerRevocations } from "../../src/serve/federation_revocations.ts";
import { ForeignIssuers } from "../../src/serve/foreign_issuers.ts";
import { ForeignStatusLists } from "../../src/serve/foreign_status_lists.ts";
import type { AuditEntry } from "../../src/store/store.ts";
import { startFakePlatform } from "../helpers/fake_platform.ts";
import {
  asCaller,
  assertError,
  assertion,
  assertNoInternalErrors,
  assertOk,
  body,
  challengeNonce,
  Clock,
  createAgent,
  createFixture,
  createVerifiedOperator,
  type Fixture,
  introspect,
  ISSUER,
  postForm,
  revoke,
  send,
  setup,
  type TestAgent,
  type TestOperator,
  tokenParams,
  withFixture,
} from "./helpers.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const TOKEN = "/oauth/token";
const METADATA = "/.well-known/oauth-authorization-server";
/** Peer A: its identifier, its agents' domain, what it grants its agent. */
const A_ISSUER = "https://a.example";
const PEER_DOMAIN = "partner.example";
const A_SCOPES = ["read:data", "write:data", "admin:all"];
/** What B's federation file trusts A for. */
const PEER_SCOPES = ["read:data", "write:data", "billing:read"];
const PEER: FederationPeer = {
  issuer: A_ISSUER,
  domains: [PEER_DOMAIN],
  scopes: PEER_SCOPES,
};

/** What B's fetch of A does; every URL it was asked for, in order. */
interface Link {
  /** A answers nothing at all. */
  down: boolean;
  /** A answers its metadata and keys, not its status lists. */
  statusListsDown: boolean;
  fetched: string[];
}

interface Peers {
  /** Peer A, and its agent of partner.example (granted A_SCOPES there). */
  a: Fixture;
  operatorA: TestOperator;
  agent: TestAgent;
  /** B: the issuer under test, trusting A as its federation file says. */
  b: Fixture;
  link: Link;
  /** B's fetch: to A's app, as the link lets it. */
  toA: typeof fetch;
}

/** A fetch that hands requests for A_ISSUER's origin to A's app. */
function linkTo(a: Fixture, link: Link): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    link.fetched.push(url);
    const path = new URL(url).pathname;
    if (
      link.down ||
      (link.statusListsDown && path.startsWith("/oauth/status-lists/"))
    ) {
      return Promise.reject(new TypeError(`connection refused: ${url}`));
    }
    if (new URL(url).origin !== A_ISSUER) {
      return Promise.reject(new TypeError(`no route to ${url}`));
    }
    const { signal: _signal, ...rest } = init ?? {};
    return a.app(new Request(url, rest));
  };
}

/**
 * Peer A with its agent, and B trusting A (`peers`, default [PEER]); one
 * clock for both. `workloadIssuers`: platforms B trusts besides (reached
 * through the same link), for the workload path.
 */
async function withPeers(
  fn: (p: Peers) => Promise<void>,
  options: {
    peers?: FederationPeer[];
    workloadIssuers?: string[];
    rateLimit?: number;
    tokenTtl?: number;
  } = {},
): Promise<void> {
  const clock = new Clock();
  const a = await createFixture({ clock, issuer: A_ISSUER });
  try {
    const operatorA = await createVerifiedOperator(a, PEER_DOMAIN);
    const agent = await createAgent(a, operatorA, { scopes: A_SCOPES });
    const link: Link = { down: false, statusListsDown: false, fetched: [] };
    const toA = linkTo(a, link);
    const workloadIssuers = new ForeignIssuers(options.workloadIssuers ?? [], {
      fetch: toA,
    });
    await withFixture(
      async (b) => {
        await fn({ a, operatorA, agent, b, link, toA });
        assertNoInternalErrors(b);
        assertNoInternalErrors(a);
      },
      {
        clock,
        federation: new Federation(options.peers ?? [PEER], { fetch: toA }),
        workloadIssuers,
        workloadStatusLists: new ForeignStatusLists(workloadIssuers, {
          fetch: toA,
        }),
        rateLimit: options.rateLimit,
        tokenTtl: options.tokenTtl,
      },
    );
  } finally {
    await a.close();
  }
}

/**
 * A's access token for `agent` (A's agent unless told), meant for B unless
 * `extra` says otherwise, through A's challenge flow.
 */
async function fromA(
  p: Peers,
  extra: Record<string, string> = {},
  options: { agent?: TestAgent; headers?: Record<string, string> } = {},
): Promise<string> {
  const agent = options.agent ?? p.agent;
  const nonce = await challengeNonce(p.a, agent.did);
  const response = await postForm(
    p.a,
    TOKEN,
    await tokenParams(p.a, agent, {
      nonce,
      extra: { audience: ISSUER, ...extra },
    }),
    options.headers,
  );
  return (await assertOk<{ access_token: string }>(response)).access_token;
}

/** The jwt-bearer request at B with `token` as its assertion. */
function trade(
  p: Peers,
  token: string,
  extra: Record<string, string | undefined> = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return postForm(p.b, TOKEN, {
    grant_type: JWT_BEARER,
    assertion: token,
    ...extra,
  }, headers);
}

/**
 * `token`'s payload with `changes` laid over it (undefined: removed), signed
 * again with A's own signing key under `header` (default: A's typ and kid).
 */
function resign(
  p: Peers,
  token: string,
  changes: Record<string, unknown> = {},
  header?: Record<string, unknown>,
): string {
  const key = p.a.keys.signingKey(p.a.clock.now());
  return signCompactJws(
    header ?? { typ: "at+jwt", kid: key.kid },
    { ...jose.decodeJwt(token), ...changes },
    key.privateKey,
  );
}

/** The kid A signs with. */
function aKid(p: Peers): string {
  return p.a.keys.signingKey(p.a.clock.now()).kid;
}

interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

/** B's token verified with B's key: its claims. */
async function claimsAtB(
  p: Peers,
  token: string,
): Promise<jose.JWTPayload & Record<string, unknown>> {
  const { payload } = await jose.jwtVerify(
    token,
    p.b.keys.signingKey(p.b.clock.now()).publicKey,
    { algorithms: ["EdDSA"], typ: "at+jwt", currentDate: p.b.clock.now() },
  );
  return payload;
}

async function federatedAudits(fx: Fixture): Promise<AuditEntry[]> {
  return (await fx.store.listAudit({ limit: 10_000 })).filter((entry) =>
    entry.action === "token.federated"
  );
}

/** The federated issuances audited: one per token B gave. */
async function issuedAudits(fx: Fixture): Promise<AuditEntry[]> {
  return (await federatedAudits(fx)).filter((entry) =>
    entry.outcome === "success"
  );
}

/** A DPoP proof for B's token endpoint by `key`. */
function proofAtB(p: Peers, key: KeyPair, url = `${ISSUER}${TOKEN}`): string {
  return createDpopProof({
    ...key,
    method: "POST",
    url,
    now: p.b.clock.now(),
  });
}

/** Asserts a refusal, naming `what` when it is not the one expected. */
async function refuse(
  what: string,
  response: Promise<Response>,
  status: number,
  code: Parameters<typeof assertError>[2],
  oauth?: string,
): Promise<void> {
  await assertError(await response, status, code, oauth).catch((error) =>
    assert.fail(`${what}: ${error}`)
  );
}

// ---------------------------------------------------------------------------

Deno.test("federation: a peer's token gets this issuer's token for its agent: claims, the store's record, the audit entry", async () => {
  await withPeers(async (p) => {
    const { a, b, agent } = p;
    const tokenA = await fromA(p);
    const fromAClaims = jose.decodeJwt(tokenA);
    assert.equal(fromAClaims.iss, A_ISSUER);
    assert.equal(fromAClaims.aud, ISSUER);
    assert.equal(fromAClaims.scope, A_SCOPES.join(" "));
    // Five minutes on, A's token has ten left: B's ends with it.
    b.clock.advance(300);

    const answer = await assertOk<TokenAnswer>(
      await trade(p, tokenA, { client_id: agent.did }),
    );
    assert.equal(answer.token_type, "Bearer");
    // A's token holds admin:all too, which B does not grant A's agents.
    assert.equal(answer.scope, "read:data write:data");
    assert.equal(answer.expires_in, 600);
    const claims = await claimsAtB(p, answer.access_token);
    const iat = nowSeconds(b.clock.now());
    assert.equal(claims.iss, ISSUER);
    assert.equal(claims.sub, agent.did);
    assert.equal(claims.client_id, agent.did);
    assert.equal(claims.scope, "read:data write:data");
    assert.equal(claims.aud, ISSUER);
    assert.equal(claims.domain, PEER_DOMAIN);
    assert.equal(claims.iat, iat);
    assert.equal(claims.exp, fromAClaims.exp, "ends with A's token");
    assert.deepEqual(claims.federation, {
      iss: A_ISSUER,
      status: fromAClaims.status,
    });
    assert.equal(claims.cnf, undefined);
    assert.equal(claims.act, undefined);
    assert.equal(claims.may_act, undefined);
    assert.notEqual(claims.jti, fromAClaims.jti);

    const record = await b.store.getToken(claims.jti!);
    assert.ok(record, "B recorded its token");
    assert.deepEqual(claims.status, statusClaim(ISSUER, record.statusIdx!));
    assert.equal(record.clientId, agent.did);
    assert.equal(record.subject, undefined);
    assert.equal(record.domain, PEER_DOMAIN);
    assert.equal(record.audience, ISSUER);
    assert.equal(record.scope, "read:data write:data");
    assert.deepEqual(record.issuedAt, new Date(iat * 1000));
    assert.deepEqual(record.expiresAt, new Date(claims.exp! * 1000));
    assert.equal(record.revokedAt, undefined);
    // Nothing of A's agent is registered at B.
    assert.equal(await b.store.getAgent(agent.did), undefined);

    const entries = await federatedAudits(b);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.actor, agent.did);
    assert.equal(entries[0]!.target, claims.jti);
    assert.equal(entries[0]!.outcome, "success");
    assert.ok(
      entries[0]!.reason?.startsWith(
        `read:data write:data via federation ${A_ISSUER}`,
      ),
      entries[0]!.reason,
    );
    assert.deepEqual(entries[0]!.at, b.clock.now());

    // B read A's keys from A's RFC 8414 metadata, and A's status list.
    const paths = p.link.fetched.map((url) => new URL(url));
    assert.ok(
      paths.every((url) => url.origin === A_ISSUER),
      p.link.fetched.join(" "),
    );
    assert.deepEqual(
      paths.map((url) => url.pathname),
      [
        "/.well-known/openid-configuration",
        METADATA,
        "/.well-known/jwks.json",
        "/oauth/status-lists/0",
      ],
    );
    assert.equal(
      (fromAClaims.status as { status_list: { uri: string } }).status_list
        .uri,
      statusListUri(A_ISSUER, 0),
    );

    // A resource server of B's takes it: offline, and by introspection.
    const verified = await new TokenVerifier(b.client).verify(
      answer.access_token,
      { audience: ISSUER, scopes: ["read:data"], now: b.clock.now() },
    );
    assert.equal(verified.sub, agent.did);
    const api = await createVerifiedOperator(b, "api.example.com");
    const introspected = await assertOk(
      await introspect(b, answer.access_token, asCaller(api)),
    );
    assert.equal(introspected.active, true, JSON.stringify(introspected));
    assert.equal(introspected.sub, agent.did);
    assert.equal(introspected.client_id, agent.did);
    assert.equal(introspected.scope, "read:data write:data");
    assert.deepEqual(introspected.federation, { iss: A_ISSUER });

    // A's token is not consumed: traded again, another token of B's.
    const again = await assertOk<TokenAnswer>(await trade(p, tokenA));
    assert.notEqual(jose.decodeJwt(again.access_token).jti, claims.jti);
    assert.equal((await issuedAudits(b)).length, 2);
    // A's own records know nothing of B's tokens.
    assert.equal(await a.store.getToken(claims.jti!), undefined);
  });
});

Deno.test("federation: introspection answers B's federated token active until B revokes it, or trusts A no more for its domain", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const api = await createVerifiedOperator(b, "api.example.com");
    const traded = async () =>
      (await assertOk<TokenAnswer>(await trade(p, await fromA(p))))
        .access_token;
    const active = async (token: string) =>
      (await assertOk(await introspect(b, token, asCaller(api)))).active;

    const first = await traded();
    assert.equal(await active(first), true);
    // An operator of partner.example at B (no agent of its own here)
    // revokes a token of its domain: inactive.
    const partnerAtB = await createVerifiedOperator(b, PEER_DOMAIN);
    assert.equal(
      (await assertOk(await revoke(b, first, asCaller(partnerAtB)))).revoked,
      true,
    );
    assert.equal(await active(first), false);

    // A federation file that no longer trusts A for partner.example (as
    // after a restart with it): B's tokens on A's word are inactive.
    const second = await traded();
    assert.equal(await active(second), true);
    b.deps.federation = new Federation([
      { ...PEER, domains: ["other.example"] },
    ], { fetch: p.toA });
    assert.equal(await active(second), false);
    b.deps.federation = new Federation([], { fetch: p.toA });
    assert.equal(await active(second), false);
    assert.equal(await b.store.getAgent(agent.did), undefined);
  });
});

Deno.test("federation: the metadata lists jwt-bearer when only federation peers are configured", async () => {
  await withFixture(async (fx) => {
    const metadata = await body(await send(fx, METADATA));
    assert.ok(
      !(metadata.grant_types_supported as string[]).includes(JWT_BEARER),
    );
  });
  await withPeers(async (p) => {
    const metadata = await body(await send(p.b, METADATA));
    const types = metadata.grant_types_supported as string[];
    assert.ok(types.includes(JWT_BEARER), JSON.stringify(types));
    assert.ok(types.includes("client_credentials"));
    assert.equal(p.b.deps.workloadIssuers.issuers.length, 0);
    // And the grant is taken: no unsupported_grant_type.
    await assertOk(await trade(p, await fromA(p)));
  });
});

Deno.test("federation: the scope is what A's token holds within what B trusts A for; asked for, within that; beyond either, ERR_SCOPE_NOT_GRANTED", async () => {
  await withPeers(async (p) => {
    const { b } = p;
    const full = await fromA(p); // read:data write:data admin:all
    const scopeOf = async (token: string, scope?: string) => {
      const answer = await assertOk<TokenAnswer>(
        await trade(p, token, { scope }),
      );
      assert.equal(
        (await claimsAtB(p, answer.access_token)).scope,
        answer.scope,
      );
      return answer.scope;
    };
    assert.equal(await scopeOf(full), "read:data write:data");
    assert.equal(await scopeOf(full, "read:data"), "read:data");
    assert.equal(
      await scopeOf(full, "write:data read:data"),
      "write:data read:data",
    );
    // A's token holds only read:data: B's holds no more, though B would
    // grant A's agents write:data.
    assert.equal(
      await scopeOf(await fromA(p, { scope: "read:data" })),
      "read:data",
    );

    // In A's token, not granted to A's agents at B.
    await refuse(
      "admin:all",
      trade(p, full, { scope: "admin:all" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    await refuse(
      "read:data admin:all",
      trade(p, full, { scope: "read:data admin:all" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    // Granted to A's agents at B, not in A's token.
    await refuse(
      "billing:read",
      trade(p, full, { scope: "billing:read" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    // Nothing in common: refused even without a scope asked for.
    await refuse(
      "A's token of admin:all alone",
      trade(p, await fromA(p, { scope: "admin:all" })),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    await refuse(
      "a malformed scope",
      trade(p, full, { scope: "read:data  write:data" }),
      400,
      "ERR_INVALID_SCOPE_SYNTAX",
    );
    assert.equal((await issuedAudits(b)).length, 4);
  });
});

Deno.test("federation: audience, resource and expires_in shape B's token as for any grant; B's token ttl caps it", async () => {
  await withPeers(async (p) => {
    const tokenA = await fromA(p);
    const expA = jose.decodeJwt(tokenA).exp!;
    const withAudience = await assertOk<TokenAnswer>(
      await trade(p, tokenA, { audience: "api.example.com" }),
    );
    assert.equal(
      (await claimsAtB(p, withAudience.access_token)).aud,
      "api.example.com",
    );
    const withResource = await assertOk<TokenAnswer>(
      await trade(p, tokenA, { resource: "https://api.example.com/v1" }),
    );
    assert.equal(
      (await claimsAtB(p, withResource.access_token)).aud,
      "https://api.example.com/v1",
    );
    await refuse(
      "audience and resource differ",
      trade(p, tokenA, {
        audience: "api.example.com",
        resource: "https://other.example",
      }),
      400,
      "ERR_INVALID_REQUEST",
    );
    const short = await assertOk<TokenAnswer>(
      await trade(p, tokenA, { expires_in: "60" }),
    );
    assert.equal(short.expires_in, 60);
    assert.equal(
      (await claimsAtB(p, short.access_token)).exp,
      nowSeconds(p.b.clock.now()) + 60,
    );
    // B's ttl (300 s) is shorter than what is left of A's token (900 s).
    const capped = await assertOk<TokenAnswer>(await trade(p, tokenA));
    assert.equal(capped.expires_in, 300);
    assert.ok((await claimsAtB(p, capped.access_token)).exp! < expA);
    await refuse(
      "expires_in 0",
      trade(p, tokenA, { expires_in: "0" }),
      400,
      "ERR_INVALID_REQUEST",
    );
  }, { tokenTtl: 300 });
});

Deno.test("federation: an agent of a domain B does not trust A for is ERR_FEDERATION_NOT_TRUSTED; nothing is recorded", async () => {
  await withPeers(async (p) => {
    const { a, b } = p;
    const elsewhere = await createVerifiedOperator(a, "elsewhere.example");
    const stranger = await createAgent(a, elsewhere, { scopes: A_SCOPES });
    const token = await fromA(p, {}, { agent: stranger });
    await refuse(
      "a domain A is not trusted for",
      trade(p, token, { client_id: stranger.did }),
      400,
      "ERR_FEDERATION_NOT_TRUSTED",
      "invalid_grant",
    );
    // Trusted for it through another peer: not through A.
    assert.deepEqual(await issuedAudits(b), []);
  }, {
    peers: [PEER, {
      issuer: "https://c.example",
      domains: ["elsewhere.example"],
      scopes: ["read:data"],
    }],
  });
});

Deno.test("federation: a token not meant for B, expired, or not signed by A's key is ERR_FEDERATED_TOKEN_INVALID", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const invalid = (what: string, token: string | Promise<string>) =>
      (async () =>
        await refuse(
          what,
          trade(p, await token),
          400,
          "ERR_FEDERATED_TOKEN_INVALID",
          "invalid_grant",
        ))();

    // Audience: A itself (A's default), another, none.
    await invalid("A's own audience", fromA(p, { audience: A_ISSUER }));
    await invalid(
      "another audience",
      fromA(p, { audience: "https://elsewhere.example" }),
    );
    const good = await fromA(p);
    await invalid("no aud", resign(p, good, { aud: undefined }));
    // Signatures: another key under A's kid, A's signature over other claims,
    // a kid A does not publish, an alg not taken.
    const other = await generateKeyPair();
    await invalid(
      "another key",
      signCompactJws(
        { typ: "at+jwt", kid: aKid(p) },
        jose.decodeJwt(good),
        other.privateKey,
      ),
    );
    const [header, , signature] = good.split(".");
    const widened = btoa(
      JSON.stringify({ ...jose.decodeJwt(good), scope: "billing:read" }),
    ).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    await invalid("a changed payload", `${header}.${widened}.${signature}`);
    await invalid(
      "an unknown kid",
      resign(p, good, {}, { typ: "at+jwt", kid: "not-a-kid-of-a" }),
    );
    await invalid(
      "alg none",
      resign(p, good, {}, { typ: "at+jwt", kid: aKid(p), alg: "none" }),
    );
    await invalid(
      "a key in the header",
      resign(p, good, {}, {
        typ: "at+jwt",
        kid: aKid(p),
        jwk: other.publicJwk,
      }),
    );

    // Time: expired past the leeway; expired within it (it would end B's
    // token at once); valid for more than a day; not yet valid.
    const now = nowSeconds(b.clock.now());
    await invalid(
      "expired",
      resign(p, good, { iat: now - 900, exp: now - 60 }),
    );
    await invalid(
      "a day ahead",
      resign(p, good, { exp: now + 86_401 }),
    );
    await invalid("no exp", resign(p, good, { exp: undefined }));
    await invalid("nbf ahead", resign(p, good, { nbf: now + 600 }));
    // Past the token's checks, the refusal names the agent in the audit log.
    const before = (await federatedAudits(b)).length;
    await invalid(
      "expired within the leeway",
      resign(p, good, { iat: now - 900, exp: now - 10 }),
    );
    const denied = (await federatedAudits(b)).slice(before);
    assert.deepEqual(
      denied.map((entry) => [entry.actor, entry.outcome, entry.reason]),
      [[agent.did, "denied", "ERR_FEDERATED_TOKEN_INVALID"]],
    );

    // A's real token past its exp, by the shared clock.
    b.clock.advance(900 + 31);
    await invalid("A's token, expired", good);
  });
});

Deno.test("federation: only an agent's own access token of A: no typ, another typ, delegated (act, may_act), another client, not a DID, no scope, an odd cnf are ERR_FEDERATED_TOKEN_INVALID", async () => {
  await withPeers(async (p) => {
    const good = await fromA(p);
    const kid = aKid(p);
    // Signed again unchanged: taken (so each refusal below is its change's).
    await assertOk(await trade(p, resign(p, good)));
    await assertOk(
      await trade(
        p,
        resign(p, good, {}, { typ: "application/at+jwt", kid }),
      ),
    );
    const actor = (await createAgent(p.a, p.operatorA)).did;
    for (
      const [what, token] of [
        ["no typ (a plain JWT)", resign(p, good, {}, { kid })],
        ["typ JWT", resign(p, good, {}, { typ: "JWT", kid })],
        ["typ jose", resign(p, good, {}, { typ: "JOSE", kid })],
        [
          "a delegation's typ",
          resign(p, good, {}, {
            typ: "delegation+jwt",
            kid,
          }),
        ],
        ["a DPoP proof's typ", resign(p, good, {}, { typ: "dpop+jwt", kid })],
        [
          "a status list's typ",
          resign(p, good, {}, {
            typ: "statuslist+jwt",
            kid,
          }),
        ],
        ["act", resign(p, good, { act: { sub: actor }, client_id: actor })],
        ["act, client_id the sub", resign(p, good, { act: { sub: actor } })],
        ["may_act", resign(p, good, { may_act: { sub: actor } })],
        ["client_id another agent", resign(p, good, { client_id: actor })],
        ["no client_id", resign(p, good, { client_id: undefined })],
        [
          "sub not a DID",
          resign(p, good, {
            sub: "partner.example:worker",
            client_id: "partner.example:worker",
          }),
        ],
        [
          "sub a DID of another method",
          resign(p, good, {
            sub: "did:web:partner.example",
            client_id: "did:web:partner.example",
          }),
        ],
        ["no sub", resign(p, good, { sub: undefined })],
        ["no scope", resign(p, good, { scope: undefined })],
        ["a malformed scope", resign(p, good, { scope: "read:data  x" })],
        [
          "cnf with more than jkt",
          resign(p, good, {
            cnf: { jkt: "a".repeat(43), x5t: "b" },
          }),
        ],
        ["cnf not a thumbprint", resign(p, good, { cnf: { jkt: "short" } })],
        ["cnf not an object", resign(p, good, { cnf: "a".repeat(43) })],
        // Trust is not passed on: a token A gave on a third issuer's word.
        [
          "issued by A through federation",
          resign(p, good, { federation: { iss: "https://c.example" } }),
        ],
        // A's revocations must be able to reach the trade.
        ["no status", resign(p, good, { status: undefined })],
        ["no jti", resign(p, good, { jti: undefined })],
        // Only B as audience: any other one named could replay it here.
        [
          "B among other audiences",
          resign(p, good, { aud: [ISSUER, "api.example.com"] }),
        ],
      ] as const
    ) {
      await refuse(
        what,
        trade(p, token),
        400,
        "ERR_FEDERATED_TOKEN_INVALID",
        "invalid_grant",
      );
    }
    assert.equal((await issuedAudits(p.b)).length, 2);
  });
});

Deno.test("federation: client_id, when sent, must be the token's sub (ERR_INVALID_REQUEST)", async () => {
  await withPeers(async (p) => {
    const token = await fromA(p);
    const other = await createAgent(p.a, p.operatorA);
    await refuse(
      "another agent of A",
      trade(p, token, { client_id: other.did }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await refuse(
      "not a DID",
      trade(p, token, { client_id: "someone" }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await assertOk(await trade(p, token, { client_id: p.agent.did }));
    await assertOk(await trade(p, token));
  });
});

Deno.test("federation: client authentication or may_act alongside the assertion is ERR_INVALID_REQUEST", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const token = await fromA(p);
    await refuse(
      "a client assertion",
      trade(p, token, {
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await assertion(b, agent.did, agent.pair.privateKey),
      }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await refuse(
      "client_assertion_type alone",
      trade(p, token, { client_assertion_type: CLIENT_ASSERTION_TYPE }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await refuse(
      "HTTP Basic",
      trade(p, token, {}, {
        Authorization: "Basic " + btoa(`${agent.did}:secret`),
      }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    const actor = await createAgent(p.a, p.operatorA);
    await refuse(
      "may_act",
      trade(p, token, { may_act: actor.did }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    assert.deepEqual(await issuedAudits(b), []);
  });
});

Deno.test("federation: a DID registered at B asks with its own key: A's token for it is ERR_FEDERATION_NOT_TRUSTED", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const token = await fromA(p);
    await assertOk(await trade(p, token));
    // B's own operator of partner.example registers the same agent (its key).
    const operatorB = await createVerifiedOperator(b, PEER_DOMAIN);
    await b.client.registerAgent(agent.did, operatorB.id, {
      privateKey: agent.pair.privateKey,
      publicJwk: agent.pair.publicJwk,
    });
    await b.client.setAgentScopes(agent.did, ["read:data"], operatorB.signer);
    await refuse(
      "registered at B",
      trade(p, token),
      400,
      "ERR_FEDERATION_NOT_TRUSTED",
      "invalid_grant",
    );
    assert.equal((await issuedAudits(b)).length, 1);
  });
});

Deno.test("federation: a DID registered at B while the trade was in flight: the store's write refuses it, nothing recorded, the denial audited", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const token = await fromA(p);
    const operatorB = await createVerifiedOperator(b, PEER_DOMAIN);
    // Registered after the request's own look-up, before its write.
    const lists = b.deps.federation.statusLists;
    const check = lists.requireUnrevoked.bind(lists);
    lists.requireUnrevoked = async (...args) => {
      await check(...args);
      await b.client.registerAgent(agent.did, operatorB.id, {
        privateKey: agent.pair.privateKey,
        publicJwk: agent.pair.publicJwk,
      });
    };
    await refuse(
      "registered in flight",
      trade(p, token),
      400,
      "ERR_FEDERATION_NOT_TRUSTED",
      "invalid_grant",
    );
    const entries = await federatedAudits(b);
    assert.deepEqual(
      entries.map((entry) => [entry.actor, entry.outcome, entry.reason]),
      [[agent.did, "denied", "ERR_FEDERATION_NOT_TRUSTED"]],
    );
    assert.ok(await b.store.getAgent(agent.did));
  });
});

Deno.test("federation: a token A revoked is refused once B reads A's status list; A's others still trade", async () => {
  await withPeers(async (p) => {
    const { a, b, agent } = p;
    const kept = await fromA(p);
    const revoked = await fromA(p);
    assert.equal(
      (await assertOk(await revoke(a, revoked, asCaller(agent)))).revoked,
      true,
    );
    await refuse(
      "revoked at A",
      trade(p, revoked),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );
    await assertOk(await trade(p, kept));

    // Revoked after B read the list: refused once B's copy is out of date.
    const later = await fromA(p);
    await assertOk(await trade(p, later));
    await assertOk(await revoke(a, later, asCaller(agent)));
    b.clock.advance(STATUS_LIST_TTL_SECONDS + 1);
    await refuse(
      "revoked at A since",
      trade(p, later),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );
    await assertOk(await trade(p, kept));
    // A status list of another origin than A's is not asked.
    const elsewhere = resign(p, kept, {
      status: { status_list: { idx: 0, uri: "https://evil.example/list" } },
    });
    const fetched = p.link.fetched.length;
    await refuse(
      "a status list elsewhere",
      trade(p, elsewhere),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );
    assert.equal(p.link.fetched.length, fetched);
  });
});

Deno.test("federation: A out of reach is 503 ERR_FEDERATED_ISSUER_UNREACHABLE, for its keys or for its status list", async () => {
  await withPeers(async (p) => {
    const token = await fromA(p);
    p.link.down = true;
    await refuse(
      "A down",
      trade(p, token),
      503,
      "ERR_FEDERATED_ISSUER_UNREACHABLE",
      "temporarily_unavailable",
    );
    assert.ok(p.link.fetched.length > 0);
    assert.deepEqual(await issuedAudits(p.b), []);
  });
  await withPeers(async (p) => {
    const token = await fromA(p);
    p.link.statusListsDown = true;
    await refuse(
      "A's status list out of reach",
      trade(p, token),
      503,
      "ERR_FEDERATED_ISSUER_UNREACHABLE",
      "temporarily_unavailable",
    );
    // A reachable again (past the 5 s before a list is asked for again).
    p.link.statusListsDown = false;
    p.b.clock.advance(6);
    await assertOk(await trade(p, token));
  });
});

Deno.test("federation: A's token bound to a DPoP key trades only with a proof by that key, and B's token is bound to it", async () => {
  await withPeers(async (p) => {
    const { a, b } = p;
    const key = await generateKeyPair();
    const jkt = await jose.calculateJwkThumbprint(key.publicJwk);
    const bound = await fromA(p, {}, {
      headers: {
        DPoP: createDpopProof({
          ...key,
          method: "POST",
          url: `${A_ISSUER}${TOKEN}`,
          now: a.clock.now(),
        }),
      },
    });
    assert.deepEqual(jose.decodeJwt(bound).cnf, { jkt });

    await refuse(
      "no proof",
      trade(p, bound),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );
    const other = await generateKeyPair();
    await refuse(
      "a proof by another key",
      trade(p, bound, {}, { DPoP: proofAtB(p, other) }),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );
    await refuse(
      "a proof by the key, for A's token endpoint",
      trade(p, bound, {}, { DPoP: proofAtB(p, key, `${A_ISSUER}${TOKEN}`) }),
      400,
      "ERR_DPOP_PROOF_INVALID",
      "invalid_dpop_proof",
    );
    await refuse(
      "not a proof",
      trade(p, bound, {}, { DPoP: "not-a-proof" }),
      400,
      "ERR_DPOP_PROOF_INVALID",
      "invalid_dpop_proof",
    );
    assert.deepEqual(await issuedAudits(b), []);

    const answer = await assertOk<TokenAnswer>(
      await trade(p, bound, {}, { DPoP: proofAtB(p, key) }),
    );
    assert.equal(answer.token_type, "DPoP");
    assert.deepEqual((await claimsAtB(p, answer.access_token)).cnf, { jkt });
    const api = await createVerifiedOperator(b, "api.example.com");
    const introspected = await assertOk(
      await introspect(b, answer.access_token, asCaller(api)),
    );
    assert.equal(introspected.token_type, "DPoP");
    assert.deepEqual(introspected.cnf, { jkt });

    // A cnf naming more than the key is not honoured, proof or not.
    await refuse(
      "cnf with more than jkt",
      trade(p, resign(p, bound, { cnf: { jkt, x5t: "abc" } }), {}, {
        DPoP: proofAtB(p, key),
      }),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
      "invalid_grant",
    );

    // An unbound token of A's with a proof: B's token is bound to its key.
    const unbound = await assertOk<TokenAnswer>(
      await trade(p, await fromA(p), {}, { DPoP: proofAtB(p, other) }),
    );
    assert.equal(unbound.token_type, "DPoP");
    assert.deepEqual((await claimsAtB(p, unbound.access_token)).cnf, {
      jkt: await jose.calculateJwkThumbprint(other.publicJwk),
    });
  });
});

Deno.test("federation: tokens naming the agent but failing their checks do not spend its rate-limit budget", async () => {
  await withPeers(async (p) => {
    const good = await fromA(p);
    const other = await generateKeyPair();
    const forged = signCompactJws(
      { typ: "at+jwt", kid: aKid(p) },
      jose.decodeJwt(good),
      other.privateKey,
    );
    for (let i = 0; i < 60; i++) {
      await assertError(
        await trade(p, forged),
        400,
        "ERR_FEDERATED_TOKEN_INVALID",
      );
    }
    // The burst (50) is the agent's own: spent by its trades, then 429.
    for (let i = 0; i < 50; i++) await assertOk(await trade(p, good));
    await assertError(await trade(p, good), 429, "ERR_RATE_LIMITED");
  }, { rateLimit: 1 });
});

// ---------------------------------------------------------------------------
// Beside workload federation

Deno.test("federation: workload federation beside peers is unchanged; a token of an issuer neither trusts is the workload path's ERR_WORKLOAD_ISSUER_UNTRUSTED", async () => {
  const platform = await startFakePlatform();
  const untrusted = await startFakePlatform();
  try {
    const SUBJECT = "system:serviceaccount:payments:worker";
    const clock = new Clock();
    const a = await createFixture({ clock, issuer: A_ISSUER });
    try {
      const link: Link = { down: false, statusListsDown: false, fetched: [] };
      const toA = linkTo(a, link);
      // B trusts A as a peer and the platform (real HTTP) for workloads.
      await withFixture(async (b) => {
        const { operator, agent } = await setup(b);
        await b.client.addWorkloadIdentity(
          agent.did,
          { issuer: platform.issuer, subject: SUBJECT },
          operator.signer,
        );
        const mint = (from = platform) =>
          from.mint({ sub: SUBJECT, aud: ISSUER }, { now: clock.now() });
        const answer = await assertOk<TokenAnswer>(
          await postForm(b, TOKEN, {
            grant_type: JWT_BEARER,
            assertion: await mint(),
            client_id: agent.did,
          }),
        );
        const claims = jose.decodeJwt(answer.access_token);
        assert.equal(claims.sub, agent.did);
        assert.equal(claims.federation, undefined);
        assert.equal(answer.scope, "read:data write:data");
        const entries = await b.store.listAudit({ limit: 10_000 });
        assert.ok(
          entries.some((entry) =>
            entry.action === "token.issue" && entry.outcome === "success" &&
            entry.target === claims.jti
          ),
        );
        assert.deepEqual(await federatedAudits(b), []);
        // Nothing was asked of A for a platform's token.
        assert.deepEqual(link.fetched, []);

        // An issuer that is neither: the workload path's refusal, as before.
        await refuse(
          "an untrusted platform",
          postForm(b, TOKEN, {
            grant_type: JWT_BEARER,
            assertion: await mint(untrusted),
            client_id: agent.did,
          }),
          400,
          "ERR_WORKLOAD_ISSUER_UNTRUSTED",
          "invalid_grant",
        );
        assert.deepEqual(untrusted.requests, []);
        assertNoInternalErrors(b);
      }, {
        clock,
        workloadIssuers: new ForeignIssuers([platform.issuer]),
        federation: new Federation([PEER], { fetch: toA }),
      });
    } finally {
      await a.close();
    }
  } finally {
    await platform.close();
    await untrusted.close();
  }
});

Deno.test("federation: with peers alone, a token of another issuer goes the workload path: ERR_WORKLOAD_ISSUER_UNTRUSTED, A asked nothing", async () => {
  await withPeers(async (p) => {
    const good = await fromA(p);
    // A's identifier byte for byte is the peer: one slash more is not.
    for (
      const iss of [`${A_ISSUER}/`, "https://A.example", "https://c.example"]
    ) {
      await refuse(
        iss,
        trade(p, resign(p, good, { iss }), { client_id: p.agent.did }),
        400,
        "ERR_WORKLOAD_ISSUER_UNTRUSTED",
        "invalid_grant",
      );
    }
    // Not a JWT at all: the workload path's refusal too.
    await refuse(
      "not a JWT",
      trade(p, "not-a-jwt", { client_id: p.agent.did }),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    assert.deepEqual(p.link.fetched, []);
    assert.deepEqual(await federatedAudits(p.b), []);
  });
});

Deno.test("federation: an issuer B trusts as a workload platform, not a peer, has its tokens traded as workload tokens, as before", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const tokenA = await fromA(p);
    // B's own agent Y; A's agent is no workload of it until bound.
    const { operator, agent: y } = await setup(b);
    await refuse(
      "unbound",
      trade(p, tokenA, { client_id: y.did }),
      400,
      "ERR_WORKLOAD_NOT_BOUND",
      "invalid_grant",
    );
    await b.client.addWorkloadIdentity(
      y.did,
      { issuer: A_ISSUER, subject: agent.did },
      operator.signer,
    );
    const answer = await assertOk<TokenAnswer>(
      await trade(p, tokenA, { client_id: y.did }),
    );
    const claims = await claimsAtB(p, answer.access_token);
    assert.equal(claims.sub, y.did);
    assert.equal(claims.client_id, y.did);
    assert.equal(claims.federation, undefined);
    assert.equal(answer.scope, "read:data write:data");
    assert.deepEqual(await federatedAudits(b), []);
    // Checked against A's status list, as a workload token of A's.
    await assertOk(await revoke(p.a, tokenA, asCaller(agent)));
    b.clock.advance(STATUS_LIST_TTL_SECONDS + 1);
    await refuse(
      "revoked at A",
      trade(p, tokenA, { client_id: y.did }),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
  }, { peers: [], workloadIssuers: [A_ISSUER] });
});

Deno.test("federation: a refusal after A's signature verified is audited under the agent's DID; the issuance's entry names A's token", async () => {
  await withPeers(async (p) => {
    const token = await fromA(p);
    await refuse(
      "a scope B does not grant A's agents",
      trade(p, token, { scope: "admin:all" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
    );
    const [denied] = (await federatedAudits(p.b)).filter((entry) =>
      entry.outcome === "denied"
    );
    assert.equal(denied?.actor, p.agent.did);
    assert.equal(denied?.reason, "ERR_SCOPE_NOT_GRANTED");
    // A forged token names nobody: not audited.
    const forged = token.slice(0, -4) +
      (token.endsWith("AAAA") ? "BBBB" : "AAAA");
    await refuse(
      "forged",
      trade(p, forged),
      400,
      "ERR_FEDERATED_TOKEN_INVALID",
    );
    assert.equal(
      (await federatedAudits(p.b)).filter((e) => e.outcome === "denied").length,
      1,
    );
    await assertOk(await trade(p, token));
    const [issued] = await issuedAudits(p.b);
    assert.ok(
      issued?.reason?.includes(`(its token ${jose.decodeJwt(token).jti})`),
      issued?.reason,
    );
  });
});

Deno.test("federation: refused trades for a DID registered at B spend none of its own rate-limit budget there", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const token = await fromA(p);
    // B's own operator of partner.example registers the same agent (its key).
    const operatorB = await createVerifiedOperator(b, PEER_DOMAIN);
    await b.client.registerAgent(agent.did, operatorB.id, {
      privateKey: agent.pair.privateKey,
      publicJwk: agent.pair.publicJwk,
    });
    await b.client.setAgentScopes(agent.did, ["read:data"], operatorB.signer);
    // More refused trades than the burst (50).
    for (let i = 0; i < 60; i++) {
      await assertError(
        await trade(p, token),
        400,
        "ERR_FEDERATION_NOT_TRUSTED",
      );
    }
    // Its own requests at B still have their whole budget.
    const nonce = await challengeNonce(b, agent.did);
    await assertOk(
      await postForm(b, TOKEN, await tokenParams(b, agent, { nonce })),
    );
  }, { rateLimit: 1 });
});

Deno.test("federation: without client_id, a token whose iss is no peer (one slash more) is told so, not asked for a workload's client_id", async () => {
  await withPeers(async (p) => {
    const good = await fromA(p);
    const response = await trade(p, resign(p, good, { iss: `${A_ISSUER}/` }));
    await assertError(response.clone(), 400, "ERR_FEDERATION_NOT_TRUSTED");
    const { error_description } = await response.json();
    assert.match(
      error_description,
      /https:\/\/a\.example\/ is no federation peer of this issuer/,
    );
    assert.deepEqual(p.link.fetched, []);
  });
});

Deno.test("federation: a scope refused says whose grant lacks it: the peer's token, or this issuer's file", async () => {
  await withPeers(async (p) => {
    const token = await fromA(p, { scope: "read:data" });
    const described = async (scope: string) => {
      const response = await trade(p, token, { scope });
      await assertError(response.clone(), 400, "ERR_SCOPE_NOT_GRANTED");
      return (await response.json()).error_description as string;
    };
    // Granted here to A's agents, but not in A's token.
    assert.match(
      await described("write:data"),
      /scope .write:data. is not in the federated token: its issuer did not grant it/,
    );
    // In A's token (A granted it), but not granted here to A's agents.
    const broad = await fromA(p, { scope: "read:data admin:all" });
    const response = await trade(p, broad, { scope: "admin:all" });
    await assertError(response.clone(), 400, "ERR_SCOPE_NOT_GRANTED");
    assert.match(
      (await response.json()).error_description,
      /scope .admin:all. is not granted here to https:\/\/a\.example's agents/,
    );
  });
});

Deno.test("federation: a workload platform's token issued through federation is refused (trust is not passed on); one sent without client_id keeps the workload path's answer", async () => {
  const C_PEER: FederationPeer = {
    issuer: "https://c.example",
    domains: ["other.example"],
    scopes: ["read:data"],
  };
  await withPeers(async (p) => {
    const { b, agent } = p;
    const tokenA = await fromA(p);
    const { operator, agent: y } = await setup(b);
    await b.client.addWorkloadIdentity(
      y.did,
      { issuer: A_ISSUER, subject: agent.did },
      operator.signer,
    );
    await assertOk(await trade(p, tokenA, { client_id: y.did }));
    // A's token for its agent, but A gave it on a third issuer's word.
    await refuse(
      "issued through federation",
      trade(
        p,
        resign(p, tokenA, { federation: { iss: "https://c.example" } }),
        {
          client_id: y.did,
        },
      ),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    // A platform B trusts, no client_id: told it needs one, as before peers.
    await refuse(
      "no client_id",
      trade(p, tokenA),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
  }, { peers: [C_PEER], workloadIssuers: [A_ISSUER] });
});

Deno.test("federation: introspection at B asks A's status list for the token B's was traded for: revoked at A after the trade, inactive at B; A out of reach, inactive too", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const api = await createVerifiedOperator(b, "api.example.com");
    const active = async (token: string) =>
      (await assertOk(await introspect(b, token, asCaller(api)))).active;
    const fromAToken = await fromA(p);
    const atB = (await assertOk<TokenAnswer>(await trade(p, fromAToken)))
      .access_token;
    // B's token carries the traded token's entry in A's list.
    const claims = await claimsAtB(p, atB);
    assert.deepEqual(
      (claims.federation as { status: unknown }).status,
      jose.decodeJwt(fromAToken).status,
    );
    assert.equal(await active(atB), true);
    // A revokes its token after the trade; B sees it once its copy of A's
    // list is older than the list's ttl.
    await assertOk(await revoke(p.a, fromAToken, asCaller(agent)));
    assert.equal(await active(atB), true);
    b.clock.advance(STATUS_LIST_TTL_SECONDS + 1);
    assert.equal(await active(atB), false);

    // Another traded token, then A out of reach with no list to be had.
    const other = (await assertOk<TokenAnswer>(await trade(p, await fromA(p))))
      .access_token;
    assert.equal(await active(other), true);
    b.deps.federation = new Federation([PEER], { fetch: p.toA });
    p.link.down = true;
    assert.equal(await active(other), false);
  });
});

Deno.test("federation: B mirrors into its own status list what A revoked after the trade, or what B's file no longer trusts A for; not while A is out of reach", async () => {
  await withPeers(async (p) => {
    const { b, agent } = p;
    const fromAToken = await fromA(p);
    const atB = (await assertOk<TokenAnswer>(await trade(p, fromAToken)))
      .access_token;
    const jti = (await claimsAtB(p, atB)).jti!;
    assert.equal(await mirrorPeerRevocations(b.deps), 0);

    // A revokes its token; once B's copy of A's list is older than its ttl,
    // the run revokes B's token, in B's store and so in B's status list.
    await assertOk(await revoke(p.a, fromAToken, asCaller(agent)));
    b.clock.advance(STATUS_LIST_TTL_SECONDS + 1);
    assert.equal(await mirrorPeerRevocations(b.deps), 1);
    const record = await b.store.getToken(jti);
    assert.ok(record?.revokedAt);
    assert.equal(record?.revokedBy, A_ISSUER);
    assert.equal(record?.revokeReason, `revoked at ${A_ISSUER}`);
    assert.equal(await mirrorPeerRevocations(b.deps), 0);
    const verifier = new TokenVerifier(b.client);
    await assert.rejects(
      verifier.verify(atB, {
        audience: ISSUER,
        status: true,
        now: b.clock.now(),
      }),
      (error: Error & { code?: string }) => error.code === "ERR_TOKEN_INACTIVE",
    );

    // A out of reach: nothing is decided (introspection says inactive).
    const second = (await assertOk<TokenAnswer>(await trade(p, await fromA(p))))
      .access_token;
    b.deps.federation = new Federation([PEER], { fetch: p.toA });
    p.link.down = true;
    assert.equal(await mirrorPeerRevocations(b.deps), 0);
    // B's file no longer trusts A for the domain: revoked, A asked nothing.
    b.deps.federation = new Federation([{
      ...PEER,
      domains: ["other.example"],
    }], {
      fetch: p.toA,
    });
    assert.equal(await mirrorPeerRevocations(b.deps), 1);
    const secondRecord = await b.store.getToken(
      (await claimsAtB(p, second)).jti!,
    );
    assert.match(secondRecord?.revokeReason ?? "", /no longer trusts/);
  });
});

Deno.test("federation: a run of the mirror asks a list out of reach once, however many tokens name it (a slow timeout does not cost each token)", async () => {
  await withPeers(async (p) => {
    const { b } = p;
    for (let i = 0; i < 3; i++) {
      await assertOk(await trade(p, await fromA(p)));
    }
    let listFetches = 0;
    b.deps.federation = new Federation([PEER], {
      fetch: (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        if (!new URL(url).pathname.startsWith("/oauth/status-lists/")) {
          return p.toA(input, init);
        }
        listFetches++;
        // A peer that never answers: the attempt fails at its timeout, after
        // the 5 s a failure stands for (measured on the real clock).
        return new Promise((_, reject) =>
          setTimeout(() => reject(new TypeError("timed out")), 5_100)
        );
      },
    });
    assert.equal(await mirrorPeerRevocations(b.deps), 0);
    assert.equal(listFetches, 1);
    // A run that is told to stop checks nothing more.
    const stop = new AbortController();
    stop.abort();
    assert.equal(await mirrorPeerRevocations(b.deps, stop.signal), 0);
    assert.equal(listFetches, 1);
  });
});
