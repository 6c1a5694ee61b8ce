/**
 * Interoperability with OAuth 2 software nobody here wrote: panva's
 * `oauth4webapi` and `openid-client` (v6) as the agent's client, and `jose`
 * as a resource server. Each walks discovery (RFC 8414) → client credentials
 * with `private_key_jwt` (RFC 6749 §4.4, RFC 7523) and a resource indicator
 * (RFC 8707) → introspection (RFC 7662) → revocation (RFC 7009), against the
 * real server on a loopback socket. The only configuration the libraries get
 * is what is legitimately optional: plain http on loopback, and RFC 8414
 * discovery (the issuer is an OAuth 2 authorization server, not an OpenID
 * Provider, so it has no `/.well-known/openid-configuration`).
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import * as oauth from "oauth4webapi";
import * as client from "openid-client";
import { didForKey } from "../../src/core/did.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  discover,
  DOMAIN,
  type Fixture,
  HTTP,
  readPkcs8PemFile,
  withIssuer,
} from "./fixture.ts";

const SCOPES = ["reports:read", "reports:write"];
/** An RFC 8707 resource indicator: an absolute URI. */
const RESOURCE = "https://api.interop.example/reports";

/** What a resource server does with a bearer token: verify it offline against the JWKS. */
async function verifyAsResourceServer(
  as: oauth.AuthorizationServer,
  token: string,
  audience: string,
): Promise<jose.JWTPayload> {
  const jwks = jose.createRemoteJWKSet(new URL(as.jwks_uri!));
  const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, {
    issuer: as.issuer,
    audience,
    typ: "at+jwt",
    algorithms: ["EdDSA"],
    requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
  });
  assert.equal(typeof protectedHeader.kid, "string");
  return payload;
}

function assertIntrospectedClaims(
  introspection: Record<string, unknown>,
  fx: Fixture,
  token: string,
  expected: { scope: string; aud: string },
): void {
  const claims = jose.decodeJwt(token);
  assert.equal(introspection.active, true);
  assert.equal(introspection.scope, expected.scope);
  assert.equal(introspection.client_id, fx.agent.did);
  assert.equal(introspection.sub, fx.agent.did);
  assert.equal(introspection.aud, expected.aud);
  assert.equal(introspection.iss, fx.issuer);
  assert.equal(introspection.exp, claims.exp);
  assert.equal(introspection.iat, claims.iat);
  assert.equal(introspection.jti, claims.jti);
  assert.equal(String(introspection.token_type).toLowerCase(), "bearer");
}

Deno.test("oauth4webapi: discovery, client credentials with private_key_jwt and resource, introspection, revocation", async () => {
  await withIssuer(SCOPES, async (fx) => {
    const as = await discover(fx);
    assert.equal(as.issuer, fx.issuer);
    assert.equal(as.token_endpoint, `${fx.issuer}/oauth/token`);
    assert.ok(
      as.token_endpoint_auth_methods_supported?.includes("private_key_jwt"),
    );

    // The key as a user has it: a PKCS#8 PEM file, imported with WebCrypto.
    const privateKey = await readPkcs8PemFile(fx.agent.keyFile);
    const agent: oauth.Client = { client_id: fx.agent.did };
    const auth = oauth.PrivateKeyJwt(privateKey);

    const response = await oauth.clientCredentialsGrantRequest(
      as,
      agent,
      auth,
      { scope: "reports:read", resource: RESOURCE },
      HTTP,
    );
    const tokens = await oauth.processClientCredentialsResponse(
      as,
      agent,
      response,
    );
    assert.equal(tokens.token_type, "bearer");
    assert.equal(tokens.scope, "reports:read");
    assert.ok(typeof tokens.expires_in === "number" && tokens.expires_in > 0);
    assert.equal(tokens.refresh_token, undefined);

    const claims = jose.decodeJwt(tokens.access_token);
    assert.equal(claims.iss, as.issuer, "discovery issuer = token iss");
    assert.equal(claims.aud, RESOURCE);
    assert.equal(claims.sub, fx.agent.did);
    assert.equal(claims.client_id, fx.agent.did);
    assert.equal(claims.scope, "reports:read");

    // oauth4webapi's own RFC 9068 validation, as a resource server would run it.
    const validated = await oauth.validateJwtAccessToken(
      as,
      new Request(RESOURCE, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
      }),
      RESOURCE,
      { ...HTTP, signingAlgorithms: ["EdDSA"] },
    );
    assert.equal(validated.jti, claims.jti);

    const introspected = await oauth.processIntrospectionResponse(
      as,
      agent,
      await oauth.introspectionRequest(
        as,
        agent,
        auth,
        tokens.access_token,
        HTTP,
      ),
    );
    assertIntrospectedClaims(introspected, fx, tokens.access_token, {
      scope: "reports:read",
      aud: RESOURCE,
    });

    const revoked = await oauth.revocationRequest(
      as,
      agent,
      auth,
      tokens.access_token,
      HTTP,
    );
    assert.equal(await oauth.processRevocationResponse(revoked), undefined);
    // RFC 7009 §2.2: the client ignores the body; free it.
    await revoked.body?.cancel();

    const after = await oauth.processIntrospectionResponse(
      as,
      agent,
      await oauth.introspectionRequest(
        as,
        agent,
        auth,
        tokens.access_token,
        HTTP,
      ),
    );
    assert.deepEqual(after, { active: false });
  });
});

Deno.test("oauth4webapi: RFC 6749 §5.2 errors surface as ResponseBodyError with the standard error code", async () => {
  await withIssuer(SCOPES, async (fx) => {
    const as = await discover(fx);
    const agent: oauth.Client = { client_id: fx.agent.did };
    const auth = oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile));
    const ask = async (
      parameters: Record<string, string>,
      clientAuth = auth,
    ) =>
      await oauth.processClientCredentialsResponse(
        as,
        agent,
        await oauth.clientCredentialsGrantRequest(
          as,
          agent,
          clientAuth,
          parameters,
          HTTP,
        ),
      );
    const refusal = (error: string, status: number) => (thrown: unknown) => {
      assert.ok(thrown instanceof oauth.ResponseBodyError, String(thrown));
      assert.equal(thrown.error, error);
      assert.equal(thrown.status, status);
      assert.equal(typeof thrown.error_description, "string");
      assert.equal(typeof thrown.cause.error_code, "string");
      return true;
    };

    // A scope outside the grant: refused, never a silently smaller token.
    await assert.rejects(
      ask({ scope: "reports:read admin" }),
      refusal("invalid_scope", 400),
    );
    // RFC 8707 §2: a resource that is not an absolute URI.
    await assert.rejects(
      ask({ scope: "reports:read", resource: "reports" }),
      refusal("invalid_target", 400),
    );
    // A client assertion signed with a key that is not the agent's.
    const stranger = await crypto.subtle.generateKey(
      { name: "Ed25519" },
      false,
      [
        "sign",
        "verify",
      ],
    ) as CryptoKeyPair;
    await assert.rejects(
      ask({ scope: "reports:read" }, oauth.PrivateKeyJwt(stranger.privateKey)),
      refusal("invalid_client", 401),
    );
  });
});

Deno.test("openid-client: discovery, client credentials with private_key_jwt and resource, introspection, revocation", async () => {
  await withIssuer(SCOPES, async (fx) => {
    // The key as a user has it: a PKCS#8 PEM file, imported with jose.
    const privateKey = await jose.importPKCS8(
      await Deno.readTextFile(fx.agent.keyFile),
      "EdDSA",
    );
    const config = await client.discovery(
      new URL(fx.issuer),
      fx.agent.did,
      undefined,
      client.PrivateKeyJwt(privateKey),
      { algorithm: "oauth2", execute: [client.allowInsecureRequests] },
    );
    const as = config.serverMetadata();
    assert.equal(as.issuer, fx.issuer);

    const tokens = await client.clientCredentialsGrant(config, {
      scope: "reports:read reports:write",
      resource: RESOURCE,
    });
    assert.equal(tokens.token_type, "bearer");
    assert.equal(tokens.scope, "reports:read reports:write");
    const claims = jose.decodeJwt(tokens.access_token);
    assert.equal(claims.iss, as.issuer, "discovery issuer = token iss");
    assert.equal(claims.aud, RESOURCE);

    const introspected = await client.tokenIntrospection(
      config,
      tokens.access_token,
    );
    assertIntrospectedClaims(introspected, fx, tokens.access_token, {
      scope: "reports:read reports:write",
      aud: RESOURCE,
    });

    await client.tokenRevocation(config, tokens.access_token);
    const after = await client.tokenIntrospection(config, tokens.access_token);
    assert.deepEqual(after, { active: false });

    await assert.rejects(
      client.clientCredentialsGrant(config, { scope: "admin" }),
      (thrown: unknown) => {
        assert.ok(thrown instanceof client.ResponseBodyError, String(thrown));
        assert.equal(thrown.error, "invalid_scope");
        assert.equal(thrown.status, 400);
        return true;
      },
    );
  });
});

Deno.test("resource server: jose verifies tokens offline with the discovered JWKS", async () => {
  await withIssuer(SCOPES, async (fx) => {
    const as = await discover(fx);
    const agent: oauth.Client = { client_id: fx.agent.did };
    const auth = oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile));
    const issue = async (parameters: Record<string, string>) =>
      (await oauth.processClientCredentialsResponse(
        as,
        agent,
        await oauth.clientCredentialsGrantRequest(
          as,
          agent,
          auth,
          parameters,
          HTTP,
        ),
      )).access_token;

    const forResource = await issue({
      scope: "reports:read",
      resource: RESOURCE,
    });
    const payload = await verifyAsResourceServer(as, forResource, RESOURCE);
    assert.equal(payload.sub, fx.agent.did);
    assert.equal(payload.scope, "reports:read");

    // The `audience` parameter takes any string (here a bare host name).
    const forHost = await issue({ audience: "api.interop.example" });
    const hostPayload = await verifyAsResourceServer(
      as,
      forHost,
      "api.interop.example",
    );
    // Without `scope`, the agent gets its whole grant (RFC 6749 §3.3 default).
    assert.equal(hostPayload.scope, SCOPES.join(" "));

    // A token for one resource is refused by another.
    await assert.rejects(
      verifyAsResourceServer(as, forResource, "https://elsewhere.example/"),
      (thrown: unknown) => {
        assert.ok(thrown instanceof jose.errors.JWTClaimValidationFailed);
        assert.equal(thrown.claim, "aud");
        return true;
      },
    );
  });
});

Deno.test("oauth4webapi and openid-client: delegation by token exchange (RFC 8693), verified by jose", async () => {
  await withIssuer(SCOPES, async (fx) => {
    const as = await discover(fx);
    assert.ok(
      as.grant_types_supported?.includes(
        "urn:ietf:params:oauth:grant-type:token-exchange",
      ),
    );
    // A second agent of the domain, granted reading only: the actor.
    const actorKeys = await generateKeyPair();
    const actorDid = await didForKey(DOMAIN, actorKeys.publicJwk);
    const operator = {
      privateKey: fx.operator.privateKey,
      kid: fx.operator.id,
    };
    await fx.client.registerAgent(actorDid, fx.operator.id, actorKeys);
    await fx.client.setAgentScopes(actorDid, ["reports:read"], operator);

    // The subject, with oauth4webapi: a token that names the actor.
    const subject: oauth.Client = { client_id: fx.agent.did };
    const delegation = (await oauth.processClientCredentialsResponse(
      as,
      subject,
      await oauth.clientCredentialsGrantRequest(
        as,
        subject,
        oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile)),
        { scope: "reports:read", may_act: actorDid },
        HTTP,
      ),
    )).access_token;

    // The actor, with openid-client's generic grant: RFC 8693's parameters.
    const config = await client.discovery(
      new URL(fx.issuer),
      actorDid,
      undefined,
      client.PrivateKeyJwt(actorKeys.privateKey),
      { execute: [client.allowInsecureRequests], algorithm: "oauth2" },
    );
    const exchanged = await client.genericGrantRequest(
      config,
      "urn:ietf:params:oauth:grant-type:token-exchange",
      {
        subject_token: delegation,
        subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
        requested_token_type: "urn:ietf:params:oauth:token-type:access_token",
        resource: RESOURCE,
      },
    );
    assert.equal(
      exchanged.issued_token_type,
      "urn:ietf:params:oauth:token-type:access_token",
    );
    assert.equal(exchanged.scope, "reports:read");

    const payload = await verifyAsResourceServer(
      as,
      exchanged.access_token,
      RESOURCE,
    );
    assert.equal(payload.sub, fx.agent.did);
    assert.equal(payload.client_id, actorDid);
    assert.deepEqual(payload.act, { sub: actorDid });
  });
});
