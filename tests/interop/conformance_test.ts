/**
 * Corner cases of the standards where the issuer once deviated (found by the
 * interop tests, issue #3). Each test asserts what the cited RFC asks of the
 * server, through a standard client where one is involved.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import * as oauth from "oauth4webapi";
import * as client from "openid-client";
import { discover, HTTP, readPkcs8PemFile, withIssuer } from "./fixture.ts";

Deno.test({
  name:
    "conformance RFC 7009 §2.1: token_type_hint is only a hint; revoking with token_type_hint=refresh_token still revokes the access token",
  fn: async () => {
    await withIssuer(["reports:read"], async (fx) => {
      const config = await client.discovery(
        new URL(fx.issuer),
        fx.agent.did,
        undefined,
        client.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile)),
        { algorithm: "oauth2", execute: [client.allowInsecureRequests] },
      );
      const { access_token } = await client.clientCredentialsGrant(config, {
        scope: "reports:read",
      });
      await client.tokenRevocation(config, access_token, {
        token_type_hint: "refresh_token",
      });
      const after = await client.tokenIntrospection(config, access_token);
      assert.equal(after.active, false);
    });
  },
});

Deno.test({
  name:
    "conformance RFC 8707 §2: several resource parameters get a token for all of them, or invalid_target",
  fn: async () => {
    await withIssuer(["reports:read"], async (fx) => {
      const as = await discover(fx);
      const agent: oauth.Client = { client_id: fx.agent.did };
      const resources = [
        "https://a.interop.example/",
        "https://b.interop.example/",
      ];
      const parameters = new URLSearchParams({ scope: "reports:read" });
      for (const resource of resources) parameters.append("resource", resource);
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        agent,
        oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile)),
        parameters,
        HTTP,
      );
      try {
        const tokens = await oauth.processClientCredentialsResponse(
          as,
          agent,
          response,
        );
        const { aud } = jose.decodeJwt(tokens.access_token);
        assert.deepEqual([aud].flat().sort(), resources);
      } catch (error) {
        assert.ok(error instanceof oauth.ResponseBodyError, String(error));
        assert.equal(error.error, "invalid_target");
      }
    });
  },
});

Deno.test({
  name:
    "conformance RFC 6749 §5.2: a client that tried HTTP Basic gets 401 invalid_client with WWW-Authenticate",
  fn: async () => {
    await withIssuer(["reports:read"], async (fx) => {
      const as = await discover(fx);
      const agent: oauth.Client = { client_id: fx.agent.did };
      const response = await oauth.clientCredentialsGrantRequest(
        as,
        agent,
        oauth.ClientSecretBasic("not-a-secret"),
        { scope: "reports:read" },
        HTTP,
      );
      assert.equal(response.status, 401);
      await assert.rejects(
        oauth.processClientCredentialsResponse(as, agent, response),
        oauth.WWWAuthenticateChallengeError,
      );
    });
  },
});

Deno.test({
  name:
    "conformance RFC 9110 §15.5.6 and §9.1: 405 carries Allow; GET resources answer HEAD",
  fn: async () => {
    await withIssuer(["reports:read"], async (fx) => {
      const wrongMethod = await fetch(`${fx.issuer}/oauth/token`);
      await wrongMethod.body?.cancel();
      assert.equal(wrongMethod.status, 405);
      assert.equal(wrongMethod.headers.get("allow"), "POST");
      const head = await fetch(
        `${fx.issuer}/.well-known/oauth-authorization-server`,
        { method: "HEAD" },
      );
      await head.body?.cancel();
      assert.equal(head.status, 200);
    });
  },
});
