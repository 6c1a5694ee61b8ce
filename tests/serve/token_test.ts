/**
 * `POST /oauth/token` through the real handler: the challenge flow and plain
 * private_key_jwt with a unique jti (RFC 7523), the access token's claims
 * (RFC 9068), lifetimes, deny-by-default scopes and every refusal with its
 * HTTP status, OAuth `error` and stable `error_code`.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import {
  agentIdentity,
  assertError,
  assertNoInternalErrors,
  assertOk,
  challengeNonce,
  clientAuth,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  ISSUER,
  postForm,
  registerOperator,
  requestTokenWithChallenge,
  setup,
  type TestAgent,
  tokenParams,
  withFixture,
} from "./helpers.ts";

const TOKEN = "/oauth/token";

interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
}

async function assertToken(
  fx: Fixture,
  response: Response,
  agent: TestAgent,
  expected: { scope: string; aud?: string; lifetime?: number },
): Promise<jose.JWTPayload> {
  assert.equal(response.headers.get("Cache-Control"), "no-store");
  assert.match(
    response.headers.get("Content-Type") ?? "",
    /^application\/json/,
  );
  const body = await assertOk<TokenBody>(response);
  const lifetime = expected.lifetime ?? 900;
  assert.equal(body.token_type, "Bearer");
  assert.equal(body.expires_in, lifetime);
  assert.equal(body.scope, expected.scope);

  const header = jose.decodeProtectedHeader(body.access_token);
  assert.deepEqual(header, {
    alg: "EdDSA",
    typ: "at+jwt",
    kid: fx.keys.signingKey(fx.clock.now()).kid,
  });
  const { payload } = await jose.jwtVerify(
    body.access_token,
    fx.keys.signingKey(fx.clock.now()).publicKey,
    { algorithms: ["EdDSA"], typ: "at+jwt", currentDate: fx.clock.now() },
  );
  const iat = nowSeconds(fx.clock.now());
  assert.equal(payload.iss, ISSUER);
  assert.equal(payload.sub, agent.did);
  assert.equal(payload.client_id, agent.did);
  assert.equal(payload.aud, expected.aud ?? ISSUER);
  assert.equal(payload.scope, expected.scope);
  assert.equal(payload.iat, iat);
  assert.equal(payload.exp, iat + lifetime);
  assert.equal(typeof payload.jti, "string");
  assert.ok((payload.jti as string).length >= 16);
  assert.equal(payload.domain, agent.domain);
  // Durable before the response: the token index knows it.
  const record = await fx.store.getToken(payload.jti as string);
  assert.equal(record?.clientId, agent.did);
  assert.equal(record?.scope, expected.scope);
  return payload;
}

Deno.test("token: challenge flow issues an RFC 9068 access token", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const challenge = await postForm(fx, "/v1/challenges", "");
    await assertError(challenge, 415, "ERR_UNSUPPORTED_MEDIA_TYPE");

    const nonce = await challengeNonce(fx, agent.did);
    const response = await postForm(
      fx,
      TOKEN,
      await tokenParams(fx, agent, { nonce }),
    );
    await assertToken(fx, response, agent, { scope: "read:data write:data" });
    assertNoInternalErrors(fx);
  });
});

Deno.test("token: the challenge answer names the audience, endpoint and a 120 s expiry", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const response = await fx.app(
      new Request(`${ISSUER}/v1/challenges`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ client_id: agent.did }),
      }),
    );
    const challenge = await assertOk(response, 201);
    assert.equal(challenge.client_id, agent.did);
    assert.equal(challenge.audience, ISSUER);
    assert.equal(challenge.token_endpoint, `${ISSUER}${TOKEN}`);
    assert.equal(challenge.expires_in, 120);
    assert.equal(
      challenge.expires_at,
      new Date(fx.clock.now().getTime() + 120_000).toISOString(),
    );
    assert.equal(response.headers.get("Cache-Control"), "no-store");
  });
});

Deno.test("token: the IssuerClient's challenge flow works against the app", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await fx.client.issueToken(agent.did, agent.pair.privateKey, {
      scope: "read:data",
      audience: "api.example.com",
    });
    assert.equal(token.scope, "read:data");
    const claims = jose.decodeJwt(token.access_token);
    assert.equal(claims.aud, "api.example.com");
    assert.equal(claims.scope, "read:data");
  });
});

Deno.test("token: plain private_key_jwt with a unique jti issues a token", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const response = await postForm(fx, TOKEN, {
      grant_type: "client_credentials",
      ...(await clientAuth(fx, agent.did, agent.pair.privateKey)),
      scope: "read:data",
      audience: "api.example.com",
    });
    await assertToken(fx, response, agent, {
      scope: "read:data",
      aud: "api.example.com",
    });
  });
});

Deno.test("token: audience takes any string, unchanged, but no control or format characters", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const ask = async (audience: string) =>
      await postForm(fx, TOKEN, {
        grant_type: "client_credentials",
        ...(await clientAuth(fx, agent.did, agent.pair.privateKey)),
        audience,
      });
    for (
      const audience of [
        "api.例え.jp",
        "urn:my service",
        "Café API",
        "x".repeat(512),
        "€".repeat(170), // 510 bytes
      ]
    ) {
      await assertToken(fx, await ask(audience), agent, {
        scope: "read:data write:data",
        aud: audience,
      });
    }
    for (
      const audience of [
        "a\u0000b",
        "a\nb",
        "a\u007fb",
        "a\u202eb",
        "€".repeat(171), // 513 bytes
        "x".repeat(513),
      ]
    ) {
      await assertError(
        await ask(audience),
        400,
        "ERR_INVALID_AUDIENCE",
        "invalid_target",
      );
    }
  });
});

Deno.test("token: client_id may be omitted (taken from the assertion's iss)", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent);
    delete (params as Record<string, string | undefined>).client_id;
    await assertToken(fx, await postForm(fx, TOKEN, params), agent, {
      scope: "read:data write:data",
    });
  });
});

Deno.test("token: resource (RFC 8707) sets the audience; a relative resource is invalid_target", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    for (
      const resource of [
        "https://api.example.com/mcp",
        "https://[::1]:8443/a%20b?x=1&y=(2)",
        "urn:example:api",
      ]
    ) {
      const ok = await requestTokenWithChallenge(fx, agent, { resource });
      await assertToken(fx, ok, agent, {
        scope: "read:data write:data",
        aud: resource,
      });
    }
    for (
      const resource of [
        "api.example.com",
        "https://api.example.com/#frag",
        "https://api.example.com/#", // an empty fragment is still one
        "https:\\api.example.com\\x", // backslashes are no URI characters
        "https://api.example.com/%zz", // nor is a malformed escape
        "https://api.example.com/\u00fc", // nor raw non-ASCII (an IRI)
      ]
    ) {
      await assertError(
        await requestTokenWithChallenge(fx, agent, { resource }),
        400,
        "ERR_INVALID_AUDIENCE",
        "invalid_target",
      );
    }
    await assertError(
      await requestTokenWithChallenge(fx, agent, {
        resource: "https://a.example/",
        audience: "https://b.example/",
      }),
      400,
      "ERR_INVALID_REQUEST",
    );
  });
});

Deno.test("token: expires_in asks for a shorter token and is capped by the server's TTL", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const scope = "read:data write:data";
    await assertToken(
      fx,
      await requestTokenWithChallenge(fx, agent, { expires_in: "60" }),
      agent,
      { scope, lifetime: 60 },
    );
    await assertToken(
      fx,
      await requestTokenWithChallenge(fx, agent, { expires_in: "100000" }),
      agent,
      { scope, lifetime: 900 },
    );
    for (const expires_in of ["0", "-5", "1.5", "abc", "9999999999"]) {
      await assertError(
        await requestTokenWithChallenge(fx, agent, { expires_in }),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      );
    }
  });
});

Deno.test("token: a server TTL shorter than 900 s caps tokens", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    await assertToken(fx, await requestTokenWithChallenge(fx, agent), agent, {
      scope: "read:data write:data",
      lifetime: 300,
    });
  }, { tokenTtl: 300 });
});

Deno.test("token: an agent without a grant is 400 ERR_SCOPE_NOT_GRANTED", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await createAgent(fx, operator, { scopes: null });
    await assertError(
      await requestTokenWithChallenge(fx, agent),
      400,
      "ERR_SCOPE_NOT_GRANTED",
      "invalid_scope",
    );
  });
});

Deno.test("token: a scope outside the grant is 400 invalid_scope, never a smaller token", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    for (const scope of ["admin:root", "read:data admin:root"]) {
      await assertError(
        await requestTokenWithChallenge(fx, agent, { scope }),
        400,
        "ERR_SCOPE_NOT_GRANTED",
        "invalid_scope",
      );
    }
    await assertError(
      await requestTokenWithChallenge(fx, agent, { scope: 'read:"x"' }),
      400,
      "ERR_INVALID_SCOPE_SYNTAX",
      "invalid_scope",
    );
  });
});

Deno.test("token: an agent whose operator is not verified is 400 ERR_OPERATOR_NOT_VERIFIED", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    const agent = await createAgent(fx, operator, { scopes: null });
    await assertError(
      await requestTokenWithChallenge(fx, agent),
      400,
      "ERR_OPERATOR_NOT_VERIFIED",
      "unauthorized_client",
    );
  });
});

Deno.test("token: a used challenge is 400 ERR_CHALLENGE_INVALID", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const nonce = await challengeNonce(fx, agent.did);
    await assertOk(
      await postForm(fx, TOKEN, await tokenParams(fx, agent, { nonce })),
    );
    // The same assertion, and a fresh assertion over the same nonce.
    const again = await tokenParams(fx, agent, { nonce });
    await assertError(
      await postForm(fx, TOKEN, again),
      400,
      "ERR_CHALLENGE_INVALID",
      "invalid_grant",
    );
    await assertError(
      await postForm(fx, TOKEN, await tokenParams(fx, agent, { nonce })),
      400,
      "ERR_CHALLENGE_INVALID",
    );
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { nonce: "never-issued" }),
      ),
      400,
      "ERR_CHALLENGE_INVALID",
    );
  });
});

Deno.test("token: a challenge past its 120 s is 400 ERR_CHALLENGE_INVALID", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const fresh = await challengeNonce(fx, agent.did);
    const stale = await challengeNonce(fx, agent.did);
    fx.clock.advance(119);
    await assertOk(
      await postForm(fx, TOKEN, await tokenParams(fx, agent, { nonce: fresh })),
    );
    fx.clock.advance(2);
    await assertError(
      await postForm(fx, TOKEN, await tokenParams(fx, agent, { nonce: stale })),
      400,
      "ERR_CHALLENGE_INVALID",
      "invalid_grant",
    );
  });
});

Deno.test("token: agent A's challenge used by agent B is refused", async () => {
  await withFixture(async (fx) => {
    const { operator, agent: alice } = await setup(fx);
    const bob = await createAgent(fx, operator);
    const nonce = await challengeNonce(fx, alice.did);
    await assertError(
      await postForm(fx, TOKEN, await tokenParams(fx, bob, { nonce })),
      400,
      "ERR_CHALLENGE_INVALID",
      "invalid_grant",
    );
  });
});

Deno.test("token: a proof signed by another key is 401 invalid_client", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const mallory = await agentIdentity("example.com");
    const nonce = await challengeNonce(fx, agent.did);
    const response = await postForm(
      fx,
      TOKEN,
      await tokenParams(fx, agent, {
        nonce,
        privateKey: mallory.pair.privateKey,
      }),
    );
    await assertError(response, 401, "ERR_BAD_SIGNATURE", "invalid_client");
    const plain = await postForm(
      fx,
      TOKEN,
      await tokenParams(fx, agent, { privateKey: mallory.pair.privateKey }),
    );
    await assertError(plain, 401, "ERR_BAD_SIGNATURE", "invalid_client");
  });
});

Deno.test("token: unknown clients and mismatched client_id are 401 invalid_client; an operator, authenticated, is 400 unauthorized_client", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const unregistered = await agentIdentity("example.com");
    await assertError(
      await postForm(fx, TOKEN, await tokenParams(fx, unregistered)),
      401,
      "ERR_INVALID_CLIENT",
      "invalid_client",
    );
    await assertError(
      await postForm(fx, TOKEN, {
        grant_type: "client_credentials",
        ...(await clientAuth(fx, operator.id, operator.pair.privateKey)),
      }),
      400,
      "ERR_NOT_AN_AGENT",
      "unauthorized_client",
    );
    const other = await createAgent(fx, operator);
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { extra: { client_id: other.did } }),
      ),
      401,
      "ERR_INVALID_CLIENT",
    );
    await assertError(
      await postForm(fx, TOKEN, { grant_type: "client_credentials" }),
      401,
      "ERR_INVALID_CLIENT",
      "invalid_client",
    );
    await assertError(
      await postForm(fx, TOKEN, {
        ...(await tokenParams(fx, agent)),
        client_assertion_type: "urn:example:other",
      }),
      401,
      "ERR_INVALID_CLIENT",
    );
  });
});

Deno.test("token: a replayed jti is 401 ERR_ASSERTION_REPLAYED", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent);
    await assertOk(await postForm(fx, TOKEN, params));
    await assertError(
      await postForm(fx, TOKEN, params),
      401,
      "ERR_ASSERTION_REPLAYED",
      "invalid_client",
    );
    // A new assertion that reuses the jti is a replay too.
    const jti = jose.decodeJwt(params.client_assertion!).jti!;
    fx.clock.advance(5);
    await assertError(
      await postForm(fx, TOKEN, await tokenParams(fx, agent, { jti })),
      401,
      "ERR_ASSERTION_REPLAYED",
    );
  });
});

Deno.test("token: the replay cache is per client: another agent may use the same jti", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const other = await createAgent(fx, operator);
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { jti: "shared" }),
      ),
    );
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, other, { jti: "shared" }),
      ),
    );
  });
});

Deno.test("token: assertion lifetime up to 300 s is accepted, longer refused", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { lifetime: 300 }),
      ),
    );
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { lifetime: 301 }),
      ),
      401,
      "ERR_ASSERTION_INVALID",
      "invalid_client",
    );
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { lifetime: 3600 }),
      ),
      401,
      "ERR_ASSERTION_INVALID",
    );
  });
});

Deno.test("token: an expired assertion is 401 ERR_ASSERTION_INVALID", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent, { lifetime: 60 });
    fx.clock.advance(60 + 31);
    await assertError(
      await postForm(fx, TOKEN, params),
      401,
      "ERR_ASSERTION_INVALID",
    );
  });
});

Deno.test("token: aud may be the issuer or the token endpoint URL, nothing else", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    for (const aud of [ISSUER, `${ISSUER}${TOKEN}`, ["other", ISSUER]]) {
      await assertOk(
        await postForm(fx, TOKEN, await tokenParams(fx, agent, { aud })),
      );
    }
    for (
      const aud of ["https://elsewhere.example", `${ISSUER}/`, "issuer.test"]
    ) {
      await assertError(
        await postForm(fx, TOKEN, await tokenParams(fx, agent, { aud })),
        401,
        "ERR_ASSERTION_INVALID",
        "invalid_client",
      );
    }
  });
});

Deno.test("token: alg Ed25519 (RFC 9864) is accepted; the token says EdDSA", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const nonce = await challengeNonce(fx, agent.did);
    const params = await tokenParams(fx, agent, { nonce, alg: "Ed25519" });
    assert.equal(
      jose.decodeProtectedHeader(params.client_assertion!).alg,
      "Ed25519",
    );
    const body = await assertOk<TokenBody>(await postForm(fx, TOKEN, params));
    assert.equal(jose.decodeProtectedHeader(body.access_token).alg, "EdDSA");
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { alg: "Ed25519" }),
      ),
    );
  });
});

Deno.test("token: grant_type missing is invalid_request, other grants unsupported_grant_type", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent);
    await assertError(
      await postForm(fx, TOKEN, { ...params, grant_type: undefined }),
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    for (
      const grant_type of [
        "password",
        "authorization_code",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
      ]
    ) {
      await assertError(
        await postForm(fx, TOKEN, { ...params, grant_type }),
        400,
        "ERR_UNSUPPORTED_GRANT_TYPE",
        "unsupported_grant_type",
      );
    }
    // None of those consumed the jti: the assertion still works once.
    await assertOk(await postForm(fx, TOKEN, params));
  });
});

Deno.test("token: a repeated parameter is 400 invalid_request", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = new URLSearchParams(await tokenParams(fx, agent));
    for (
      const name of ["grant_type", "client_id", "client_assertion", "scope"]
    ) {
      const form = new URLSearchParams(params);
      if (name === "scope") form.append(name, "read:data");
      form.append(name, form.get(name)!);
      await assertError(
        await postForm(fx, TOKEN, form.toString()),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      );
    }
    // Repeated even when one of the occurrences is empty (RFC 6749 §3.1).
    for (
      const repeated of ["scope=&scope=admin:root", "scope=read:data&scope="]
    ) {
      await assertError(
        await postForm(fx, TOKEN, `${params}&${repeated}`),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      );
    }
    await assertOk(await postForm(fx, TOKEN, params.toString()));
    assert.equal(params.get("client_assertion_type"), CLIENT_ASSERTION_TYPE);
  });
});
