/**
 * Delegation through the real handler: `may_act` at the token endpoint and
 * token exchange (RFC 8693) — who may act for whom, deny-by-default scopes at
 * every link, lifetimes, actor chains, and revocation reaching every token
 * delegated from a revoked one or a suspended agent.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { verifyAccessToken } from "../../src/core/access_token.ts";
import {
  asCaller,
  assertError,
  assertNoInternalErrors,
  assertOk,
  clientAuth,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  postForm,
  revoke,
  type TestAgent,
  withFixture,
} from "./helpers.ts";

const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";

/** A's token that lets `actor` act for A. */
function delegate(
  fx: Fixture,
  subject: TestAgent,
  actor: TestAgent,
  extra: Record<string, string> = {},
): Promise<string> {
  return issueToken(fx, subject, { may_act: actor.did, ...extra });
}

async function exchange(
  fx: Fixture,
  actor: TestAgent,
  subjectToken: string,
  extra: Record<string, string> = {},
): Promise<Response> {
  return await postForm(fx, "/oauth/token", {
    grant_type: EXCHANGE,
    subject_token: subjectToken,
    subject_token_type: ACCESS_TOKEN,
    ...(await clientAuth(fx, actor.did, actor.pair.privateKey)),
    ...extra,
  });
}

async function exchanged(
  fx: Fixture,
  actor: TestAgent,
  subjectToken: string,
  extra: Record<string, string> = {},
): Promise<string> {
  const response = await exchange(fx, actor, subjectToken, extra);
  return (await assertOk<{ access_token: string }>(response)).access_token;
}

async function isActive(
  fx: Fixture,
  token: string,
  caller: TestAgent,
): Promise<boolean> {
  const response = await introspect(fx, token, asCaller(caller));
  return (await assertOk<{ active: boolean }>(response)).active;
}

/** Three agents of one verified operator: A delegates, B and C act. */
async function trio(fx: Fixture, scopes = ["read:data", "write:data"]) {
  const operator = await createVerifiedOperator(fx);
  const a = await createAgent(fx, operator);
  const b = await createAgent(fx, operator, { scopes });
  const c = await createAgent(fx, operator, { scopes });
  return { operator, a, b, c };
}

Deno.test("token exchange: B acts for A with A's delegation, as RFC 8693 shapes it", async () => {
  await withFixture(async (fx) => {
    const { a, b } = await trio(fx);
    const subjectToken = await delegate(fx, a, b, { scope: "read:data" });
    const delegation = jose.decodeJwt(subjectToken);
    assert.deepEqual(delegation.may_act, { sub: b.did });
    assert.equal(
      delegation.aud,
      `${ISSUER}/oauth/token`,
      "exchanged here only",
    );
    assert.equal(
      jose.decodeProtectedHeader(subjectToken).typ,
      "delegation+jwt",
    );

    const response = await exchange(fx, b, subjectToken, {
      audience: "api.example.com",
    });
    const body = await assertOk<Record<string, unknown>>(response);
    assert.equal(body.issued_token_type, ACCESS_TOKEN);
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.scope, "read:data");
    const token = body.access_token as string;
    const claims = await verifyAccessToken(token, {
      issuer: ISSUER,
      key: (kid) => fx.keys.findPublicKey(kid, fx.clock.now()),
      now: fx.clock.now(),
      audience: "api.example.com",
      scopes: ["read:data"],
    });
    assert.equal(claims.sub, a.did);
    assert.equal(claims.client_id, b.did);
    assert.deepEqual(claims.act, { sub: b.did });
    assert.equal(claims.may_act, undefined);
    assert.equal(claims.domain, a.domain);
    assert.ok(claims.exp <= (delegation.exp as number));

    const record = await fx.store.getToken(claims.jti);
    assert.equal(record?.clientId, b.did);
    assert.equal(record?.subject, a.did);
    assert.equal(record?.parentJti, delegation.jti);

    const answer = await assertOk<Record<string, unknown>>(
      await introspect(fx, token, asCaller(a)),
    );
    assert.equal(answer.active, true);
    assert.equal(answer.sub, a.did);
    assert.equal(answer.client_id, b.did);
    assert.deepEqual(answer.act, { sub: b.did });

    const entries = await fx.store.listAudit({ limit: 100 });
    const entry = entries.find((e) => e.target === claims.jti);
    assert.equal(entry?.action, "token.exchange");
    assert.equal(entry?.actor, b.did);
    assert.equal(entry?.reason, `read:data for ${a.did}`);
    assertNoInternalErrors(fx);
  });
});

Deno.test("token exchange: only the agent named by may_act may act", async () => {
  await withFixture(async (fx) => {
    const { a, b, c } = await trio(fx);
    const forB = await delegate(fx, a, b);
    await assertError(
      await exchange(fx, c, forB),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
    // A token of A's own, without may_act, delegates nothing.
    const plain = await issueToken(fx, a);
    await assertError(
      await exchange(fx, b, plain),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
    // Nor may the subject exchange its own delegation.
    await assertError(
      await exchange(fx, a, forB),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
  });
});

Deno.test("token exchange: an unusable subject token is invalid_request (RFC 8693 §2.2.2)", async () => {
  await withFixture(async (fx) => {
    const { a, b } = await trio(fx);
    for (const bad of ["not-a-jwt", "a.b.c"]) {
      await assertError(
        await exchange(fx, b, bad),
        400,
        "ERR_SUBJECT_TOKEN_INVALID",
        "invalid_request",
      );
    }
    // Forged: A's delegation re-signed by someone else's key.
    const delegation = await delegate(fx, a, b);
    const forged = await new jose.SignJWT(jose.decodeJwt(delegation))
      .setProtectedHeader(jose.decodeProtectedHeader(delegation) as never)
      .sign(b.pair.privateKey);
    await assertError(
      await exchange(fx, b, forged),
      400,
      "ERR_SUBJECT_TOKEN_INVALID",
      "invalid_request",
    );
    // Revoked by A.
    await assertOk(await revoke(fx, delegation, asCaller(a)));
    await assertError(
      await exchange(fx, b, delegation),
      400,
      "ERR_SUBJECT_TOKEN_INVALID",
      "invalid_request",
    );
    // Expired.
    const shortLived = await delegate(fx, a, b, { expires_in: "60" });
    fx.clock.advance(60);
    await assertError(
      await exchange(fx, b, shortLived),
      400,
      "ERR_SUBJECT_TOKEN_INVALID",
      "invalid_request",
    );
  });
});

Deno.test("may_act: a delegation names a registered agent of the subject's domain, other than the subject, and no audience", async () => {
  await withFixture(async (fx) => {
    const { a, b } = await trio(fx);
    const rival = await createVerifiedOperator(fx, "rival.example");
    const stranger = await createAgent(fx, rival);
    const refusals: Record<string, string>[] = [
      { may_act: b.did, audience: "api.example.com" },
      { may_act: b.did, resource: "https://api.example.com/" },
      { may_act: a.did },
      { may_act: "did:agent:example.com:" + "0".repeat(32) },
      { may_act: "bob" },
      { may_act: stranger.did }, // across domains: federation, not built
    ];
    for (const extra of refusals) {
      await assertError(
        await postForm(fx, "/oauth/token", await tokenRequest(fx, a, extra)),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      );
    }
  });
});

Deno.test("a delegation is no access token: verifiers refuse it, introspection calls it inactive, even after its actor is suspended", async () => {
  await withFixture(async (fx) => {
    const { operator, a, b, c } = await trio(fx);
    const delegation = await delegate(fx, a, b);
    const verify = (audience?: string) =>
      verifyAccessToken(delegation, {
        issuer: ISSUER,
        key: (kid) => fx.keys.findPublicKey(kid, fx.clock.now()),
        now: fx.clock.now(),
        audience,
      });
    for (const audience of [undefined, ISSUER, `${ISSUER}/oauth/token`]) {
      await assert.rejects(
        verify(audience),
        (error: Error) =>
          (error as { code?: string }).code === "ERR_TOKEN_INVALID",
      );
    }
    assert.equal(await isActive(fx, delegation, c), false);
    await fx.client.changeAgentStatus(b.did, "suspend", "t", operator.signer);
    assert.equal(await isActive(fx, delegation, c), false);
    // Nor can an access token of the subject's be exchanged: only a delegation.
    await assertError(
      await exchange(fx, c, await issueToken(fx, a)),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
  });
});

/** A client_credentials request of `agent`'s with a fresh jti, plus `extra`. */
async function tokenRequest(
  fx: Fixture,
  agent: TestAgent,
  extra: Record<string, string>,
): Promise<Record<string, string>> {
  return {
    grant_type: "client_credentials",
    ...(await clientAuth(fx, agent.did, agent.pair.privateKey)),
    ...extra,
  };
}

Deno.test("token exchange: deny by default at every link — the subject token, the subject's grant now, the actor's grant", async () => {
  await withFixture(async (fx) => {
    const { operator, a, b } = await trio(fx, ["read:data"]);
    const delegation = await delegate(fx, a, b); // read:data write:data
    // Not granted to B.
    await assertError(
      await exchange(fx, b, delegation, { scope: "write:data" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    // Not in the subject token.
    const narrow = await delegate(fx, a, b, { scope: "read:data" });
    await fx.client.setAgentScopes(
      b.did,
      ["read:data", "write:data"],
      operator.signer,
    );
    await assertError(
      await exchange(fx, b, narrow, { scope: "read:data write:data" }),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
    // Without scope: what passes every link, never more.
    await fx.client.setAgentScopes(b.did, ["read:data"], operator.signer);
    const token = await exchanged(fx, b, delegation);
    assert.equal(jose.decodeJwt(token).scope, "read:data");
    // A's grant withdrawn since the delegation: nothing passes.
    await fx.client.setAgentScopes(a.did, ["write:data"], operator.signer);
    await assertError(
      await exchange(fx, b, delegation),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
  });
});

Deno.test("token exchange: the delegated token ends with its subject token", async () => {
  await withFixture(async (fx) => {
    const { a, b } = await trio(fx);
    const delegation = await delegate(fx, a, b, { expires_in: "120" });
    fx.clock.advance(100);
    const response = await exchange(fx, b, delegation);
    const body = await assertOk<{ access_token: string; expires_in: number }>(
      response,
    );
    assert.equal(body.expires_in, 20);
    assert.equal(
      jose.decodeJwt(body.access_token).exp,
      jose.decodeJwt(delegation).exp,
    );
  });
});

Deno.test("token exchange: revoking the delegation, or suspending the subject or the actor, ends the delegated tokens", async () => {
  await withFixture(async (fx) => {
    const { operator, a, b, c } = await trio(fx);
    // A revokes its delegation.
    let delegation = await delegate(fx, a, b);
    let token = await exchanged(fx, b, delegation);
    assert.equal(await isActive(fx, token, c), true);
    await assertOk(await revoke(fx, delegation, asCaller(a)));
    assert.equal(await isActive(fx, token, c), false);

    // The subject suspended.
    delegation = await delegate(fx, a, b);
    token = await exchanged(fx, b, delegation);
    await fx.client.changeAgentStatus(
      a.did,
      "suspend",
      "test",
      operator.signer,
    );
    assert.equal(await isActive(fx, token, c), false);
    await fx.client.changeAgentStatus(
      a.did,
      "reactivate",
      undefined,
      operator.signer,
    );
    assert.equal(await isActive(fx, token, c), false, "revocation is final");

    // The actor suspended.
    delegation = await delegate(fx, a, b);
    token = await exchanged(fx, b, delegation);
    await fx.client.changeAgentStatus(
      b.did,
      "suspend",
      "test",
      operator.signer,
    );
    assert.equal(await isActive(fx, token, c), false);
    const record = await fx.store.getToken(jose.decodeJwt(delegation).jti!);
    assert.equal(record?.revokedAt, undefined, "A's delegation stays");
    assertNoInternalErrors(fx);
  });
});

Deno.test("revocation of a delegated token: its holder and its subject may, another agent may not", async () => {
  await withFixture(async (fx) => {
    const { a, b, c } = await trio(fx);
    const delegation = await delegate(fx, a, b);
    const token = await exchanged(fx, b, delegation);
    await assertError(
      await revoke(fx, token, asCaller(c)),
      400,
      "ERR_NOT_TOKEN_HOLDER",
      "unauthorized_client",
    );
    await assertOk(await revoke(fx, token, asCaller(a)));
    assert.equal(await isActive(fx, token, c), false);
    const again = await exchanged(fx, b, delegation);
    await assertOk(await revoke(fx, again, asCaller(b)));
    assert.equal(await isActive(fx, again, c), false);
  });
});

Deno.test("token exchange: a delegated token cannot be passed on", async () => {
  await withFixture(async (fx) => {
    const { a, b, c } = await trio(fx);
    const delegation = await delegate(fx, a, b);
    await assertError(
      await exchange(fx, b, delegation, { may_act: c.did }),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
    // Nor is the delegated token itself a delegation for anyone.
    const token = await exchanged(fx, b, delegation);
    await assertError(
      await exchange(fx, c, token),
      400,
      "ERR_NOT_DELEGATED",
      "invalid_request",
    );
  });
});

Deno.test("token exchange: RFC 8693's parameters are checked; operators and unknown grants are refused", async () => {
  await withFixture(async (fx) => {
    const { operator, a, b } = await trio(fx);
    const delegation = await delegate(fx, a, b);
    const cases: Record<string, string | undefined>[] = [
      { subject_token_type: undefined },
      { subject_token_type: "urn:ietf:params:oauth:token-type:id_token" },
      { actor_token: delegation, actor_token_type: ACCESS_TOKEN },
      {
        requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token",
      },
    ];
    for (const change of cases) {
      const params: Record<string, string> = {
        grant_type: EXCHANGE,
        subject_token: delegation,
        subject_token_type: ACCESS_TOKEN,
        ...(await clientAuth(fx, b.did, b.pair.privateKey)),
      };
      for (const [name, value] of Object.entries(change)) {
        if (value === undefined) delete params[name];
        else params[name] = value;
      }
      await assertError(
        await postForm(fx, "/oauth/token", params),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      );
    }
    const ok = await exchanged(fx, b, delegation, {
      subject_token_type: "urn:ietf:params:oauth:token-type:jwt",
      requested_token_type: ACCESS_TOKEN,
    });
    assert.equal(jose.decodeJwt(ok).sub, a.did);

    await assertError(
      await postForm(fx, "/oauth/token", {
        grant_type: EXCHANGE,
        subject_token: delegation,
        subject_token_type: ACCESS_TOKEN,
        ...(await clientAuth(fx, operator.id, operator.pair.privateKey)),
      }),
      400,
      "ERR_NOT_AN_AGENT",
      "unauthorized_client",
    );
    const metadata = await fx.client.metadata();
    assert.deepEqual(metadata.grant_types_supported, [
      "client_credentials",
      EXCHANGE,
    ]);
  });
});
