/**
 * DPoP (RFC 9449) with software nobody here wrote: panva's `oauth4webapi`
 * (its DPoP handle) and `jose` (hand-made proofs sent with plain fetch) as
 * the agent's client, against the real issuer on a loopback socket. The
 * agent authenticates with `private_key_jwt` (RFC 7523) as always, and the
 * `DPoP` header of its token request binds the token to the proof's key
 * (`cnf.jkt`, RFC 9449 §6, answered as `token_type: "DPoP"`, §5). A small
 * resource server, started here on its own loopback socket, verifies what
 * the clients send with `TokenVerifier.verifyRequest`: the bound token with
 * a fresh proof by its key is taken; as a bearer token, with a proof seen
 * before, or with a proof by another key, it is refused with the challenge
 * of RFC 9449 §7.1.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import * as oauth from "oauth4webapi";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  discover,
  type Fixture,
  HTTP,
  readPkcs8PemFile,
  withIssuer,
} from "./fixture.ts";

const SCOPES = ["reports:read"];
const CLIENT_ASSERTION_TYPE =
  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/** DPoP key pairs as a client makes them: the private half never leaves WebCrypto. */
const DPOP_KEYS = {
  ES256: async () =>
    await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      false,
      ["sign", "verify"],
    ) as CryptoKeyPair,
  Ed25519: async () =>
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, [
      "sign",
      "verify",
    ]) as CryptoKeyPair,
} as const;

/** The RFC 7638 thumbprint of a key pair's public key, as jose computes it. */
async function thumbprint(keyPair: CryptoKeyPair): Promise<string> {
  return await jose.calculateJwkThumbprint(
    await jose.exportJWK(keyPair.publicKey),
  );
}

interface ResourceServer {
  /** What it serves, and the audience (RFC 8707 resource) it takes tokens for. */
  url: string;
}

/**
 * A resource server as a user of the library writes one: every request's
 * token goes through `verifyRequest`; 200 with the caller, or the error's
 * status and headers (its `WWW-Authenticate` challenge).
 */
async function withResourceServer(
  issuer: string,
  body: (rs: ResourceServer) => Promise<void>,
): Promise<void> {
  const verifier = new TokenVerifier(new IssuerClient(issuer));
  let audience = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      try {
        const claims = await verifier.verifyRequest(request, {
          audience,
          origin: new URL(audience).origin,
        });
        return Response.json({ sub: claims.sub });
      } catch (error) {
        if (!(error instanceof Auth4AgentError)) throw error;
        return Response.json(
          { error: error.oauthError, error_description: error.message },
          { status: error.status, headers: error.headers },
        );
      }
    },
  );
  try {
    audience = `http://127.0.0.1:${server.addr.port}/reports`;
    await body({ url: audience });
  } finally {
    await server.shutdown();
  }
}

/** oauth4webapi's client credentials grant with private_key_jwt and its DPoP handle. */
async function boundToken(
  fx: Fixture,
  as: oauth.AuthorizationServer,
  dpop: oauth.DPoPHandle,
  resource: string,
): Promise<oauth.TokenEndpointResponse> {
  const agent: oauth.Client = { client_id: fx.agent.did };
  const auth = oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile));
  return await oauth.processClientCredentialsResponse(
    as,
    agent,
    await oauth.clientCredentialsGrantRequest(
      as,
      agent,
      auth,
      { scope: "reports:read", resource },
      { ...HTTP, DPoP: dpop },
    ),
  );
}

/** fetch, keeping the headers of each request sent (the DPoP proof among them). */
function recordingFetch(
  sent: Record<string, string>[],
): NonNullable<
  oauth.ProtectedResourceRequestOptions[typeof oauth.customFetch]
> {
  return (url, options) => {
    sent.push({ ...options.headers });
    return fetch(url, options as RequestInit);
  };
}

/** A refusal by the resource server as oauth4webapi surfaces it: its challenges. */
function challenged(scheme: string, error: string, status: number) {
  return (thrown: unknown) => {
    assert.ok(
      thrown instanceof oauth.WWWAuthenticateChallengeError,
      String(thrown),
    );
    assert.equal(thrown.status, status);
    const [challenge] = thrown.cause;
    assert.equal(challenge?.scheme, scheme);
    assert.equal(challenge?.parameters.error, error);
    return true;
  };
}

for (const [name, generate] of Object.entries(DPOP_KEYS)) {
  Deno.test(`oauth4webapi: client credentials with private_key_jwt and a ${name} DPoP key: a bound token, taken by a resource server`, async () => {
    await withIssuer(SCOPES, async (fx) => {
      await withResourceServer(fx.issuer, async (rs) => {
        const as = await discover(fx);
        assert.ok(
          as.dpop_signing_alg_values_supported?.includes(
            name === "ES256" ? "ES256" : "Ed25519",
          ),
        );
        const keyPair = await generate();
        const agent: oauth.Client = { client_id: fx.agent.did };
        const dpop = oauth.DPoP(agent, keyPair);

        const tokens = await boundToken(fx, as, dpop, rs.url);
        // The server answers "DPoP" (RFC 9449 §5); oauth4webapi lower-cases it.
        assert.equal(tokens.token_type, "dpop");
        assert.equal(tokens.scope, "reports:read");
        const jkt = await thumbprint(keyPair);
        assert.equal(await dpop.calculateThumbprint(), jkt);
        const claims = jose.decodeJwt(tokens.access_token);
        assert.deepEqual(claims.cnf, { jkt });
        assert.equal(claims.aud, rs.url);
        assert.equal(claims.sub, fx.agent.did);

        // Introspection (RFC 9449 §6.2) shows the binding too.
        const introspected = await oauth.processIntrospectionResponse(
          as,
          agent,
          await oauth.introspectionRequest(
            as,
            agent,
            oauth.PrivateKeyJwt(await readPkcs8PemFile(fx.agent.keyFile)),
            tokens.access_token,
            HTTP,
          ),
        );
        assert.equal(introspected.active, true);
        assert.deepEqual(introspected.cnf, { jkt });

        // At the resource server: `DPoP <token>` and a proof with `ath`;
        // the query is no part of `htu` (§4.2), on either side.
        const sent: Record<string, string>[] = [];
        const answer = await oauth.protectedResourceRequest(
          tokens.access_token,
          "GET",
          new URL(`${rs.url}?page=1`),
          new Headers(),
          null,
          { ...HTTP, DPoP: dpop, [oauth.customFetch]: recordingFetch(sent) },
        );
        assert.equal(answer.status, 200);
        assert.deepEqual(await answer.json(), { sub: fx.agent.did });
        const proof = sent[0]?.dpop ?? "";
        assert.equal(
          jose.decodeProtectedHeader(proof).alg,
          name === "ES256" ? "ES256" : "Ed25519",
        );
        assert.equal(jose.decodeJwt(proof).htu, rs.url);
      });
    });
  });
}

Deno.test("oauth4webapi at a resource server: a DPoP-bound token is refused as a bearer token, with a proof seen before, and with another key's proof", async () => {
  await withIssuer(SCOPES, async (fx) => {
    await withResourceServer(fx.issuer, async (rs) => {
      const as = await discover(fx);
      const agent: oauth.Client = { client_id: fx.agent.did };
      const dpop = oauth.DPoP(agent, await DPOP_KEYS.ES256());
      const { access_token } = await boundToken(fx, as, dpop, rs.url);
      const call = async (options: oauth.ProtectedResourceRequestOptions) =>
        await oauth.protectedResourceRequest(
          access_token,
          "GET",
          new URL(rs.url),
          new Headers(),
          null,
          { ...HTTP, ...options },
        );

      // Without the DPoP handle, oauth4webapi sends it as a bearer token
      // (RFC 6750): a bound token is not one (RFC 9449 §7.1).
      await assert.rejects(call({}), (thrown: unknown) => {
        challenged("bearer", "invalid_token", 401)(thrown);
        const { response } = thrown as oauth.WWWAuthenticateChallengeError;
        assert.match(
          response.headers.get("WWW-Authenticate") ?? "",
          /^Bearer error="invalid_token"/,
        );
        return true;
      });

      // A proof by a key the token is not bound to: no use to a thief.
      const thief = oauth.DPoP(agent, await DPOP_KEYS.ES256());
      await assert.rejects(
        call({ DPoP: thief }),
        challenged("dpop", "invalid_dpop_proof", 401),
      );

      // The DPoP scheme with no proof at all.
      const bare = await fetch(rs.url, {
        headers: { Authorization: `DPoP ${access_token}` },
      });
      await bare.body?.cancel();
      assert.equal(bare.status, 401);
      assert.match(
        bare.headers.get("WWW-Authenticate") ?? "",
        /^DPoP error="invalid_dpop_proof", algs="[^"]*ES256[^"]*"$/,
      );

      // Taken once with its own proof; that very request sent again (its
      // proof captured on the way) is refused: each proof once (§11.1).
      const sent: Record<string, string>[] = [];
      const first = await call({
        DPoP: dpop,
        [oauth.customFetch]: recordingFetch(sent),
      });
      assert.equal(first.status, 200);
      await first.body?.cancel();
      const replayed = await fetch(rs.url, { headers: sent[0] });
      await replayed.body?.cancel();
      assert.equal(replayed.status, 401);
      assert.match(
        replayed.headers.get("WWW-Authenticate") ?? "",
        /^DPoP error="invalid_dpop_proof"/,
      );

      // A fresh proof by the right key is still taken after all this.
      const again = await call({ DPoP: dpop });
      assert.equal(again.status, 200);
      await again.body?.cancel();
    });
  });
});

/** A DPoP proof made with jose, field by field as RFC 9449 §4.2 lists them. */
async function joseProof(
  keyPair: CryptoKeyPair,
  alg: string,
  htm: string,
  htu: string,
  accessToken?: string,
): Promise<string> {
  const ath = accessToken === undefined ? undefined : jose.base64url.encode(
    new Uint8Array(
      await crypto.subtle.digest(
        "SHA-256",
        new TextEncoder().encode(accessToken),
      ),
    ),
  );
  return await new jose.SignJWT({ htm, htu, ...(ath && { ath }) })
    .setProtectedHeader({
      alg,
      typ: "dpop+jwt",
      jwk: await jose.exportJWK(keyPair.publicKey),
    })
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .sign(keyPair.privateKey);
}

/** A client credentials request by hand: form body, jose-signed private_key_jwt. */
async function tokenRequest(
  fx: Fixture,
  resource: string,
  dpopProof: string,
): Promise<Response> {
  const agentKey = await jose.importPKCS8(
    await Deno.readTextFile(fx.agent.keyFile),
    "EdDSA",
  );
  const assertion = await new jose.SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT" })
    .setIssuer(fx.agent.did)
    .setSubject(fx.agent.did)
    .setAudience(fx.issuer)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(agentKey);
  return await fetch(`${fx.issuer}/oauth/token`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      DPoP: dpopProof,
    },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      scope: "reports:read",
      resource,
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    }),
  });
}

for (
  const [name, alg] of [["ES256", "ES256"], ["Ed25519", "EdDSA"]] as const
) {
  Deno.test(`jose: hand-made ${alg} DPoP proofs with plain fetch, at the token endpoint and at a resource server`, async () => {
    await withIssuer(SCOPES, async (fx) => {
      await withResourceServer(fx.issuer, async (rs) => {
        const keyPair = await DPOP_KEYS[name]();
        const tokenUrl = `${fx.issuer}/oauth/token`;

        const response = await tokenRequest(
          fx,
          rs.url,
          await joseProof(keyPair, alg, "POST", tokenUrl),
        );
        assert.equal(response.status, 200);
        const tokens = await response.json();
        assert.equal(tokens.token_type, "DPoP");
        assert.deepEqual(jose.decodeJwt(tokens.access_token).cnf, {
          jkt: await thumbprint(keyPair),
        });

        const answer = await fetch(rs.url, {
          headers: {
            Authorization: `DPoP ${tokens.access_token}`,
            DPoP: await joseProof(
              keyPair,
              alg,
              "GET",
              rs.url,
              tokens.access_token,
            ),
          },
        });
        assert.equal(answer.status, 200);
        assert.deepEqual(await answer.json(), { sub: fx.agent.did });

        // A proof for another request (§4.3 steps 8–9): at the token
        // endpoint, 400 invalid_dpop_proof (§5); nothing is issued.
        for (
          const [htm, htu] of [
            ["GET", tokenUrl],
            ["POST", `${fx.issuer}/oauth/introspect`],
          ]
        ) {
          const refused = await tokenRequest(
            fx,
            rs.url,
            await joseProof(keyPair, alg, htm!, htu!),
          );
          assert.equal(refused.status, 400);
          assert.equal((await refused.json()).error, "invalid_dpop_proof");
        }
      });
    });
  });
}
