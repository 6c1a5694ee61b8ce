/**
 * Workload federation through the real handler, with a fake platform on
 * 127.0.0.1 (OIDC discovery and JWKS over real HTTP): the jwt-bearer grant
 * (RFC 7523 §2.1) trades a bound platform token for the agent's token, and
 * refuses every other with its status and stable code; the
 * `/v1/agents/{did}/workload-identities` endpoints bind, list and unbind.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import { createDpopProof } from "../../src/core/dpop.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { ForeignIssuers } from "../../src/serve/foreign_issuers.ts";
import type { AuditEntry } from "../../src/store/store.ts";
import {
  type FakePlatform,
  startFakePlatform,
} from "../helpers/fake_platform.ts";
import {
  agentIdentity,
  asCaller,
  assertError,
  assertion,
  assertNoInternalErrors,
  assertOk,
  body,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  postForm,
  registerOperator,
  send,
  setup,
  signedRequest,
  type TestAgent,
  type TestOperator,
  withFixture,
} from "./helpers.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const SUBJECT = "system:serviceaccount:payments:worker";
const TOKEN = "/oauth/token";

interface Workload {
  fx: Fixture;
  platform: FakePlatform;
  operator: TestOperator;
  agent: TestAgent;
}

/**
 * A fake platform the fixture trusts (with `alsoTrusted`), a verified
 * operator, an agent granted `read:data write:data`, and SUBJECT of the
 * platform bound to the agent.
 */
async function withWorkload(
  body: (w: Workload) => Promise<void>,
  options: { alsoTrusted?: string[]; bind?: boolean; rateLimit?: number } = {},
): Promise<void> {
  const platform = await startFakePlatform();
  try {
    await withFixture(async (fx) => {
      const { operator, agent } = await setup(fx);
      if (options.bind !== false) {
        await fx.client.addWorkloadIdentity(
          agent.did,
          { issuer: platform.issuer, subject: SUBJECT },
          operator.signer,
        );
      }
      await body({ fx, platform, operator, agent });
    }, {
      workloadIssuers: new ForeignIssuers([
        platform.issuer,
        ...options.alsoTrusted ?? [],
      ]),
      rateLimit: options.rateLimit,
    });
  } finally {
    await platform.close();
  }
}

/** A platform token for SUBJECT, meant for this issuer, by the fixture's clock. */
function mint(
  w: Workload,
  claims: Record<string, unknown> = {},
  options: Parameters<FakePlatform["mint"]>[1] = {},
  platform: FakePlatform = w.platform,
): Promise<string> {
  return platform.mint(
    { sub: SUBJECT, aud: ISSUER, ...claims },
    { now: w.fx.clock.now(), ...options },
  );
}

/** The jwt-bearer request: the platform token traded for `did`'s token. */
function trade(
  fx: Fixture,
  token: string,
  did: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  return postForm(fx, TOKEN, {
    grant_type: JWT_BEARER,
    assertion: token,
    client_id: did,
    ...extra,
  }, headers);
}

interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

async function audits(fx: Fixture): Promise<AuditEntry[]> {
  return await fx.store.listAudit({ limit: 10_000 });
}

const identitiesPath = (did: string) => `/v1/agents/${did}/workload-identities`;

// ---------------------------------------------------------------------------
// The grant

Deno.test("workload: the metadata lists jwt-bearer only when a platform is trusted", async () => {
  await withFixture(async (fx) => {
    const metadata = await body(
      await send(fx, "/.well-known/oauth-authorization-server"),
    );
    assert.ok(Array.isArray(metadata.grant_types_supported));
    assert.ok(
      !(metadata.grant_types_supported as string[]).includes(JWT_BEARER),
    );
    const { agent } = await setup(fx);
    await assertError(
      await trade(fx, "a.b.c", agent.did),
      400,
      "ERR_UNSUPPORTED_GRANT_TYPE",
      "unsupported_grant_type",
    );
  });
  await withWorkload(async ({ fx }) => {
    const metadata = await body(
      await send(fx, "/.well-known/oauth-authorization-server"),
    );
    assert.ok(
      (metadata.grant_types_supported as string[]).includes(JWT_BEARER),
    );
    assert.ok(
      (metadata.grant_types_supported as string[]).includes(
        "client_credentials",
      ),
    );
  }, { bind: false });
});

Deno.test("workload: a bound platform token gets the agent's token, ending with it, reusable, audited", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, platform } = w;
    const platformExp = nowSeconds(fx.clock.now()) + 120;
    const platformToken = await mint(w, { exp: platformExp });

    const answer = await assertOk<TokenAnswer>(
      await trade(fx, platformToken, agent.did, { scope: "read:data" }),
    );
    assert.equal(answer.token_type, "Bearer");
    assert.equal(answer.scope, "read:data");
    assert.equal(answer.expires_in, 120);
    const { payload } = await jose.jwtVerify(
      answer.access_token,
      fx.keys.signingKey(fx.clock.now()).publicKey,
      { algorithms: ["EdDSA"], typ: "at+jwt", currentDate: fx.clock.now() },
    );
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.sub, agent.did);
    assert.equal(payload.client_id, agent.did);
    assert.equal(payload.scope, "read:data");
    assert.equal(payload.exp, platformExp, "ends with the platform token");
    assert.equal(payload.domain, agent.domain);
    assert.equal(payload.act, undefined);
    assert.equal(payload.cnf, undefined);

    // The TokenVerifier a resource server uses accepts it; introspection too.
    const claims = await new TokenVerifier(fx.client).verify(
      answer.access_token,
      { audience: ISSUER, scopes: ["read:data"], now: fx.clock.now() },
    );
    assert.equal(claims.sub, agent.did);
    const introspected = await assertOk(
      await introspect(fx, answer.access_token, asCaller(agent)),
    );
    assert.equal(introspected.active, true);
    assert.equal(introspected.sub, agent.did);
    assert.equal(introspected.client_id, agent.did);

    // Not consumed: the same platform token is traded again, for the whole grant.
    const again = await assertOk<TokenAnswer>(
      await trade(fx, platformToken, agent.did),
    );
    assert.equal(again.scope, "read:data write:data");
    assert.notEqual(
      jose.decodeJwt(again.access_token).jti,
      payload.jti,
    );

    // Outside the grant: invalid_scope.
    await assertError(
      await trade(fx, platformToken, agent.did, { scope: "admin:all" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );

    const denied = (await audits(fx)).filter((entry) =>
      entry.action === "token.issue" && entry.outcome === "denied"
    );
    assert.deepEqual(
      denied.map((entry) => [entry.actor, entry.reason]),
      [[agent.did, "ERR_SCOPE_NOT_GRANTED"]],
    );
    const issued = (await audits(fx)).filter((entry) =>
      entry.action === "token.issue" && entry.outcome === "success"
    );
    assert.equal(issued.length, 2);
    for (const entry of issued) {
      assert.equal(entry.actor, agent.did);
      assert.match(entry.reason ?? "", /workload/);
      assert.ok(
        entry.reason?.includes(`${platform.issuer} ${SUBJECT}`),
        entry.reason,
      );
    }
    assert.equal(issued[0]!.target, payload.jti);
    assertNoInternalErrors(fx);
  });
});

Deno.test("workload: the agent's token is no longer than it would be otherwise (token ttl, expires_in)", async () => {
  await withWorkload(async (w) => {
    const { fx, agent } = w;
    // The platform token outlives the token ttl (900 s): the ttl rules.
    const long = await mint(w, { exp: nowSeconds(fx.clock.now()) + 3600 });
    const answer = await assertOk<TokenAnswer>(
      await trade(fx, long, agent.did),
    );
    assert.equal(answer.expires_in, 900);
    const shorter = await assertOk<TokenAnswer>(
      await trade(fx, long, agent.did, { expires_in: "60" }),
    );
    assert.equal(shorter.expires_in, 60);
  });
});

Deno.test("workload: an unknown agent, an unbound sub or an unbound (trusted) iss is ERR_WORKLOAD_NOT_BOUND", async () => {
  const second = await startFakePlatform();
  try {
    await withWorkload(async (w) => {
      const { fx, agent } = w;
      const stranger = await agentIdentity();
      await assertError(
        await trade(fx, await mint(w), stranger.did),
        400,
        "ERR_WORKLOAD_NOT_BOUND",
        "invalid_grant",
      );
      await assertError(
        await trade(fx, await mint(w, { sub: `${SUBJECT}-2` }), agent.did),
        400,
        "ERR_WORKLOAD_NOT_BOUND",
        "invalid_grant",
      );
      // The second platform is trusted, but its SUBJECT is not bound.
      await assertError(
        await trade(fx, await mint(w, {}, {}, second), agent.did),
        400,
        "ERR_WORKLOAD_NOT_BOUND",
        "invalid_grant",
      );
      // Another agent of the same operator: not bound to it either.
      const other = await createAgent(fx, w.operator);
      await assertError(
        await trade(fx, await mint(w), other.did),
        400,
        "ERR_WORKLOAD_NOT_BOUND",
        "invalid_grant",
      );
      assertNoInternalErrors(fx);
    }, { alsoTrusted: [second.issuer] });
  } finally {
    await second.close();
  }
});

Deno.test("workload: a token of an untrusted platform is refused without asking it for keys", async () => {
  const untrusted = await startFakePlatform();
  try {
    await withWorkload(async (w) => {
      const token = await mint(w, {}, {}, untrusted);
      await assertError(
        await trade(w.fx, token, w.agent.did),
        400,
        "ERR_WORKLOAD_ISSUER_UNTRUSTED",
        "invalid_grant",
      );
      assert.deepEqual(untrusted.requests, []);
    });
  } finally {
    await untrusted.close();
  }
});

Deno.test("workload: aud must name the issuer, and the binding's audience too when it has one", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    await assertError(
      await trade(
        fx,
        await mint(w, { aud: "https://elsewhere.example" }),
        agent.did,
      ),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    await assertError(
      await trade(fx, await mint(w, { aud: undefined }), agent.did),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    // Among several audiences, ours is enough.
    await assertOk(
      await trade(
        fx,
        await mint(w, { aud: ["sts.example", ISSUER] }),
        agent.did,
      ),
    );

    const ci = "repo:example/payments:ref:refs/heads/main";
    await fx.client.addWorkloadIdentity(
      agent.did,
      { issuer: platform.issuer, subject: ci, audience: "sts.example" },
      operator.signer,
    );
    await assertError(
      await trade(fx, await mint(w, { sub: ci }), agent.did),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    // RFC 7523 §3 item 3: the binding's audience narrows, never replaces, ours.
    await assertError(
      await trade(
        fx,
        await mint(w, { sub: ci, aud: "sts.example" }),
        agent.did,
      ),
      400,
      "ERR_WORKLOAD_TOKEN_INVALID",
      "invalid_grant",
    );
    await assertOk(
      await trade(
        fx,
        await mint(w, { sub: ci, aud: ["sts.example", ISSUER] }),
        agent.did,
      ),
    );
  });
});

Deno.test("workload: another key's signature, an expired token, a far-off exp are ERR_WORKLOAD_TOKEN_INVALID", async () => {
  await withWorkload(async (w) => {
    const { fx, agent } = w;
    const { privateKey } = await jose.generateKeyPair("RS256");
    const refuse = async (what: string, token: string) =>
      await assertError(
        await trade(fx, token, agent.did),
        400,
        "ERR_WORKLOAD_TOKEN_INVALID",
        "invalid_grant",
      ).catch((error) => assert.fail(`${what}: ${error}`));

    await refuse(
      "another key, same kid",
      await mint(w, {}, { key: privateKey }),
    );
    const now = nowSeconds(fx.clock.now());
    await refuse(
      "expired past the leeway",
      await mint(w, { iat: now - 600, exp: now - 60 }),
    );
    // Within the 30 s leeway the token passes its checks but would end the
    // agent's token at once: refused too.
    await refuse(
      "expired within the leeway",
      await mint(w, { iat: now - 600, exp: now - 10 }),
    );
    await refuse(
      "exp more than a day ahead",
      await mint(w, { exp: now + 86_401 }),
    );
    await refuse("no exp", await mint(w, { exp: undefined }));
    await refuse("not a JWS", "not-a-jwt");
    // The platform's own key, sound: accepted (the refusals were the token's).
    await assertOk(await trade(fx, await mint(w), agent.did));
  });
});

Deno.test("workload: client authentication or may_act along with the grant is invalid_request", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator } = w;
    const token = await mint(w);
    await assertError(
      await trade(fx, token, agent.did, {
        client_assertion_type: CLIENT_ASSERTION_TYPE,
        client_assertion: await assertion(fx, agent.did, agent.pair.privateKey),
      }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await assertError(
      await trade(fx, token, agent.did, {}, {
        Authorization: "Basic " + btoa(`${agent.did}:secret`),
      }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    const actor = await createAgent(fx, operator);
    await assertError(
      await trade(fx, token, agent.did, { may_act: actor.did }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    await assertError(
      await postForm(fx, TOKEN, { grant_type: JWT_BEARER, assertion: token }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
  });
});

Deno.test("workload: a suspended agent, or a removed binding, gets no token", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    const token = await mint(w);
    await assertOk(await trade(fx, token, agent.did));

    await fx.client.changeAgentStatus(
      agent.did,
      "suspend",
      undefined,
      operator.signer,
    );
    await assertError(
      await trade(fx, token, agent.did),
      401,
      "ERR_AGENT_SUSPENDED",
      "invalid_client",
    );
    await fx.client.changeAgentStatus(
      agent.did,
      "reactivate",
      undefined,
      operator.signer,
    );
    await assertOk(await trade(fx, token, agent.did));

    await fx.client.removeWorkloadIdentity(
      agent.did,
      { issuer: platform.issuer, subject: SUBJECT },
      operator.signer,
    );
    await assertError(
      await trade(fx, token, agent.did),
      400,
      "ERR_WORKLOAD_NOT_BOUND",
      "invalid_grant",
    );
  });
});

Deno.test("workload: a platform that cannot be reached before any keys are held is 503", async () => {
  const platform = await startFakePlatform();
  const issuer = platform.issuer;
  await platform.close();
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    await fx.client.addWorkloadIdentity(
      agent.did,
      { issuer, subject: SUBJECT },
      operator.signer,
    );
    const token = await platform.mint(
      { sub: SUBJECT, aud: ISSUER },
      { now: fx.clock.now() },
    );
    await assertError(
      await trade(fx, token, agent.did),
      503,
      "ERR_WORKLOAD_ISSUER_UNREACHABLE",
      "temporarily_unavailable",
    );
  }, { workloadIssuers: new ForeignIssuers([issuer]) });
});

Deno.test("workload: a DPoP proof binds the agent's token to its key", async () => {
  await withWorkload(async (w) => {
    const { fx, agent } = w;
    const key = await generateKeyPair();
    const proof = createDpopProof({
      ...key,
      method: "POST",
      url: `${ISSUER}${TOKEN}`,
      now: fx.clock.now(),
    });
    const answer = await assertOk<TokenAnswer>(
      await trade(fx, await mint(w), agent.did, {}, { DPoP: proof }),
    );
    assert.equal(answer.token_type, "DPoP");
    const jkt = await jose.calculateJwkThumbprint(key.publicJwk);
    assert.deepEqual(jose.decodeJwt(answer.access_token).cnf, { jkt });
    const introspected = await assertOk(
      await introspect(fx, answer.access_token, asCaller(agent)),
    );
    assert.equal(introspected.active, true);
    assert.deepEqual(introspected.cnf, { jkt });
    // A bad proof is refused as it is for any grant.
    await assertError(
      await trade(fx, await mint(w), agent.did, {}, { DPoP: "not-a-proof" }),
      400,
      "ERR_DPOP_PROOF_INVALID",
      "invalid_dpop_proof",
    );
  });
});

// ---------------------------------------------------------------------------
// /v1/agents/{did}/workload-identities

Deno.test("workload identities: add answers 201 with the view; duplicates and the 21st are 409; audited", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    const path = identitiesPath(agent.did);
    const added = await assertOk(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: SUBJECT,
        audience: "sts.example",
      }, operator.signer)).response,
      201,
    );
    assert.deepEqual(added, {
      did: agent.did,
      issuer: platform.issuer,
      subject: SUBJECT,
      audience: "sts.example",
      created_at: fx.clock.now().toISOString(),
      created_by: operator.id,
    });
    await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: SUBJECT,
      }, operator.signer)).response,
      409,
      "ERR_WORKLOAD_IDENTITY_EXISTS",
    );
    for (let i = 2; i <= 20; i++) {
      await assertOk(
        (await signedRequest(fx, "POST", path, {
          issuer: platform.issuer,
          subject: `${SUBJECT}-${i}`,
        }, operator.signer)).response,
        201,
      );
    }
    await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: `${SUBJECT}-21`,
      }, operator.signer)).response,
      409,
      "ERR_WORKLOAD_IDENTITY_LIMIT",
    );
    const list = await fx.client.workloadIdentities(agent.did, operator.signer);
    assert.equal(list.workload_identities.length, 20);

    const entries = (await audits(fx)).filter((entry) =>
      entry.action === "workload.add"
    );
    assert.equal(entries.length, 20);
    assert.deepEqual(
      [entries[0]!.actor, entries[0]!.target, entries[0]!.outcome],
      [operator.id, agent.did, "success"],
    );
    assert.equal(entries[0]!.reason, `${platform.issuer} ${SUBJECT}`);
    assertNoInternalErrors(fx);
  }, { bind: false });
});

Deno.test("workload identities: add refuses an untrusted issuer, another operator, an unverified one, bad subjects", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, platform } = w;
    const path = identitiesPath(agent.did);
    const operator = w.operator;
    const untrusted = await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: "https://platform.elsewhere.example",
        subject: SUBJECT,
      }, operator.signer)).response,
      400,
      "ERR_WORKLOAD_ISSUER_UNTRUSTED",
    );
    // It names the platforms the server does trust.
    assert.match(
      String(untrusted.error_description),
      new RegExp(platform.issuer),
    );
    // A misspelt member would bind with the default audience: refused, and
    // an empty or non-string audience is no "missing" one.
    for (
      const extra of [
        { audiance: "api.example.com" },
        { audience: "" },
        { audience: 7 },
      ]
    ) {
      await assertError(
        (await signedRequest(fx, "POST", path, {
          issuer: platform.issuer,
          subject: SUBJECT,
          ...extra,
        }, operator.signer)).response,
        400,
        "ERR_INVALID_REQUEST",
      );
    }
    assert.deepEqual(await fx.store.listWorkloadIdentities(agent.did), []);

    const other = await createVerifiedOperator(fx, "other.example");
    await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: SUBJECT,
      }, other.signer)).response,
      403,
      "ERR_FORBIDDEN",
      "access_denied",
    );
    const denied = (await audits(fx)).filter((entry) =>
      entry.action === "workload.add" && entry.outcome === "denied"
    );
    assert.equal(denied.length, 1);
    assert.equal(denied[0]!.actor, other.id);
    assert.equal(denied[0]!.target, agent.did);
    assert.equal(denied[0]!.reason, "ERR_FORBIDDEN");

    const unverified = await registerOperator(fx, "unverified.example");
    const itsAgent = await createAgent(fx, unverified, { scopes: null });
    await assertError(
      (await signedRequest(fx, "POST", identitiesPath(itsAgent.did), {
        issuer: platform.issuer,
        subject: SUBJECT,
      }, unverified.signer)).response,
      400,
      "ERR_OPERATOR_NOT_VERIFIED",
    );

    for (
      const [what, subject] of [
        ["a newline", "system:serviceaccount:a\nb"],
        ["an escape", "worker\u001b[31m"],
        ["a bidi override", "worker\u202e"],
        ["1025 characters", "s".repeat(1025)],
        ["empty", ""],
      ]
    ) {
      await assertError(
        (await signedRequest(fx, "POST", path, {
          issuer: platform.issuer,
          subject,
        }, operator.signer)).response,
        400,
        "ERR_INVALID_REQUEST",
      ).catch((error) => assert.fail(`${what}: ${error}`));
    }
    // 1024 characters is the limit, not beyond it.
    await assertOk(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: "s".repeat(1024),
      }, operator.signer)).response,
      201,
    );
    await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: "worker-aud",
        audience: "sts\nexample",
      }, operator.signer)).response,
      400,
      "ERR_INVALID_REQUEST",
    );
    // The agent itself does not bind.
    await assertError(
      (await signedRequest(fx, "POST", path, {
        issuer: platform.issuer,
        subject: "by-the-agent",
      }, agent.signer)).response,
      403,
      "ERR_FORBIDDEN",
    );
    const list = await fx.client.workloadIdentities(agent.did, operator.signer);
    assert.deepEqual(
      list.workload_identities.map((identity) => identity.subject.length),
      [1024],
    );
  }, { bind: false });
});

Deno.test("workload identities: listed by the operator and the agent itself, not by another agent", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    const path = identitiesPath(agent.did);
    const expected = {
      did: agent.did,
      workload_identities: [{
        issuer: platform.issuer,
        subject: SUBJECT,
        audience: null,
        created_at: fx.clock.now().toISOString(),
        created_by: operator.id,
      }],
      trusted_issuers: [platform.issuer],
    };
    assert.deepEqual(
      await assertOk(
        (await signedRequest(fx, "GET", path, undefined, operator.signer))
          .response,
      ),
      expected,
    );
    assert.deepEqual(
      await assertOk(
        (await signedRequest(fx, "GET", path, undefined, agent.signer))
          .response,
      ),
      expected,
    );
    const sibling = await createAgent(fx, operator);
    await assertError(
      (await signedRequest(fx, "GET", path, undefined, sibling.signer))
        .response,
      403,
      "ERR_FORBIDDEN",
    );
    const other = await createVerifiedOperator(fx, "other.example");
    await assertError(
      (await signedRequest(fx, "GET", path, undefined, other.signer)).response,
      403,
      "ERR_FORBIDDEN",
    );
  });
});

Deno.test("workload identities: remove answers 200, then 404; audited", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    const query = new URLSearchParams({
      issuer: platform.issuer,
      subject: SUBJECT,
    });
    const path = `${identitiesPath(agent.did)}?${query}`;
    const other = await createVerifiedOperator(fx, "other.example");
    await assertError(
      (await signedRequest(fx, "DELETE", path, undefined, other.signer))
        .response,
      403,
      "ERR_FORBIDDEN",
    );
    assert.deepEqual(
      await assertOk(
        (await signedRequest(fx, "DELETE", path, undefined, operator.signer))
          .response,
      ),
      {
        did: agent.did,
        issuer: platform.issuer,
        subject: SUBJECT,
        removed: true,
      },
    );
    await assertError(
      (await signedRequest(fx, "DELETE", path, undefined, operator.signer))
        .response,
      404,
      "ERR_WORKLOAD_IDENTITY_NOT_FOUND",
    );
    const list = await fx.client.workloadIdentities(agent.did, agent.signer);
    assert.deepEqual(list.workload_identities, []);

    const entries = (await audits(fx)).filter((entry) =>
      entry.action.startsWith("workload.")
    );
    assert.deepEqual(
      entries.map((entry) => [entry.action, entry.outcome, entry.actor]),
      [
        ["workload.add", "success", operator.id],
        ["workload.remove", "denied", other.id],
        ["workload.remove", "success", operator.id],
      ],
    );
    assert.equal(entries[2]!.target, agent.did);
    assert.equal(entries[2]!.reason, `${platform.issuer} ${SUBJECT}`);
  });
});

Deno.test("workload: once keys are held, a platform down is tolerated for a day, then 503", async () => {
  const platform = await startFakePlatform();
  let closed = false;
  try {
    await withFixture(async (fx) => {
      const { operator, agent } = await setup(fx);
      await fx.client.addWorkloadIdentity(
        agent.did,
        { issuer: platform.issuer, subject: SUBJECT },
        operator.signer,
      );
      const mintNow = () =>
        platform.mint({ sub: SUBJECT, aud: ISSUER }, { now: fx.clock.now() });
      await assertOk(await trade(fx, await mintNow(), agent.did));
      await platform.close();
      closed = true;
      // Past the 5-minute cache: the refetch fails, the held keys serve.
      fx.clock.advance(600);
      await assertOk(await trade(fx, await mintNow(), agent.did));
      fx.clock.advance(86_400);
      await assertError(
        await trade(fx, await mintNow(), agent.did),
        503,
        "ERR_WORKLOAD_ISSUER_UNREACHABLE",
        "temporarily_unavailable",
      );
    }, { workloadIssuers: new ForeignIssuers([platform.issuer]) });
  } finally {
    if (!closed) await platform.close();
  }
});

Deno.test("workload: platform tokens not bound to an agent do not spend its rate-limit budget", async () => {
  await withWorkload(async (w) => {
    const { fx, agent } = w;
    // Anyone with a token of the platform (a public CI, say) names the agent.
    const stranger = await mint(w, { sub: "repo:stranger/any:ref:x" });
    for (let i = 0; i < 60; i++) {
      await assertError(
        await trade(fx, stranger, agent.did),
        400,
        "ERR_WORKLOAD_NOT_BOUND",
      );
    }
    // The agent's own requests still go through.
    await assertOk(await trade(fx, await mint(w), agent.did));
    await issueToken(fx, agent);
  }, { rateLimit: 20 });
});

Deno.test("workload identities: a subject of 1024 bytes of UTF-8, the most, is bound and removed (its signed URL stays under the signature's size); 1025 bytes are refused", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    for (const subject of ["é".repeat(512), "🙂".repeat(256)]) {
      await fx.client.addWorkloadIdentity(
        agent.did,
        { issuer: platform.issuer, subject },
        operator.signer,
      );
      await fx.client.removeWorkloadIdentity(
        agent.did,
        { issuer: platform.issuer, subject },
        operator.signer,
      );
    }
    await assertError(
      (await signedRequest(fx, "POST", identitiesPath(agent.did), {
        issuer: platform.issuer,
        subject: `${"é".repeat(512)}x`,
      }, operator.signer)).response,
      400,
      "ERR_INVALID_REQUEST",
    );
    assert.deepEqual(await fx.store.listWorkloadIdentities(agent.did), [
      {
        agentDid: agent.did,
        issuer: platform.issuer,
        subject: SUBJECT,
        createdAt: fx.clock.now(),
        createdBy: operator.id,
      },
    ]);
  });
});

Deno.test("workload identities: a binding stored with a longer subject (before subjects were counted in bytes) can still be removed", async () => {
  await withWorkload(async (w) => {
    const { fx, agent, operator, platform } = w;
    const subject = "é".repeat(600); // 1,200 bytes
    await fx.store.addWorkloadIdentity({
      agentDid: agent.did,
      issuer: platform.issuer,
      subject,
      createdAt: fx.clock.now(),
      createdBy: operator.id,
    });
    await fx.client.removeWorkloadIdentity(
      agent.did,
      { issuer: platform.issuer, subject },
      operator.signer,
    );
    assert.equal((await fx.store.listWorkloadIdentities(agent.did)).length, 1);
  });
});
