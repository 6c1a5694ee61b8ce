/**
 * Federation as third-party software meets it: issuer A (the fixture) and
 * issuer B, which federates with A for the fixture's domain. The agent uses
 * oauth4webapi alone: client credentials at A for B's audience, then RFC
 * 7523's jwt-bearer grant at B (its generic grant request, no client
 * authentication), with B found by RFC 8414 discovery; jose verifies B's
 * token against B's published keys, as a resource server would.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import * as oauth from "oauth4webapi";
import { resolveServeConfig } from "../../src/serve/config.ts";
import { startServer } from "../../src/serve/server.ts";
import {
  discover,
  DOMAIN,
  HTTP,
  readPkcs8PemFile,
  withIssuer,
} from "./fixture.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const RESOURCE = "https://api.partner.example/orders";

Deno.test("oauth4webapi and jose: an agent of issuer A trades A's token at issuer B, which federates with A (RFC 7523 jwt-bearer, RFC 8414)", async () => {
  await withIssuer(["orders:read", "orders:write"], async (a) => {
    const dir = await Deno.makeTempDir({ prefix: "a4a-interop-b-" });
    const b = await startServer(
      resolveServeConfig(
        { host: "127.0.0.1", port: "0", db: `${dir}/b.db`, rateLimit: "0" },
        () => undefined,
      ),
      {
        federation: [{
          issuer: a.issuer,
          domains: [DOMAIN],
          scopes: ["orders:read"],
        }],
        log: () => {},
      },
    );
    try {
      const asA = await discover(a);
      const issuerB = new URL(b.issuer);
      const asB = await oauth.processDiscoveryResponse(
        issuerB,
        await oauth.discoveryRequest(issuerB, { algorithm: "oauth2", ...HTTP }),
      );
      assert.ok(asB.grant_types_supported?.includes(JWT_BEARER));

      // At A: the agent's own token, for B's audience.
      const agent: oauth.Client = { client_id: a.agent.did };
      const fromA = (await oauth.processClientCredentialsResponse(
        asA,
        agent,
        await oauth.clientCredentialsGrantRequest(
          asA,
          agent,
          oauth.PrivateKeyJwt(await readPkcs8PemFile(a.agent.keyFile)),
          { scope: "orders:read orders:write", audience: b.issuer },
          HTTP,
        ),
      )).access_token;

      // At B: the generic grant, the token as the assertion, no client auth.
      const atB = await oauth.processGenericTokenEndpointResponse(
        asB,
        agent,
        await oauth.genericTokenEndpointRequest(
          asB,
          agent,
          oauth.None(),
          JWT_BEARER,
          { assertion: fromA, resource: RESOURCE },
          HTTP,
        ),
      );
      // Deny by default: what both A's token and B's file hold.
      assert.equal(atB.scope, "orders:read");
      assert.equal(atB.token_type, "bearer");

      const jwks = jose.createRemoteJWKSet(new URL(asB.jwks_uri!));
      const { payload } = await jose.jwtVerify(atB.access_token, jwks, {
        issuer: asB.issuer,
        audience: RESOURCE,
        typ: "at+jwt",
        algorithms: ["EdDSA"],
        requiredClaims: ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"],
      });
      assert.equal(payload.sub, a.agent.did);
      assert.equal(payload.client_id, a.agent.did);
      assert.equal((payload.federation as { iss: string }).iss, a.issuer);
      assert.ok(payload.exp! <= jose.decodeJwt(fromA).exp!);

      // A's token verifies at A only: B's keys are not A's.
      await assert.rejects(
        jose.jwtVerify(fromA, jwks, { issuer: asB.issuer }),
      );
    } finally {
      await b.shutdown();
      await Deno.remove(dir, { recursive: true });
    }
  });
});
