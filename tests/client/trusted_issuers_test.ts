/**
 * Multi-issuer trust: one resource server, two issuers each with its own
 * keys. Each issuer's tokens verify; a token naming an issuer that is not
 * trusted is refused without a request; a token naming one trusted issuer
 * but signed by the other's key is refused, even when their kids collide.
 */
import assert from "node:assert/strict";
import type { Jwks } from "../../src/client/issuer_client.ts";
import { TrustedIssuers } from "../../src/client/trusted_issuers.ts";
import { signAccessToken } from "../../src/core/access_token.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { testClaims } from "../helpers/claims.ts";
import { issuerAnswer } from "../helpers/fake_issuer.ts";

const A = "https://a.issuer.test";
const B = "https://b.issuer.test";
const NOW = new Date("2030-01-01T00:00:00Z");

const keyA = await generateKeyPair();
const keyB = await generateKeyPair();
const jwks: Record<string, Jwks> = {
  [A]: { keys: [{ ...keyA.publicJwk, kid: "k1" }] },
  [B]: { keys: [{ ...keyB.publicJwk, kid: "k1" }] },
};

/** Both issuers' metadata and keys, counting requests by origin. */
const requests: string[] = [];
const fetch = (input: string | URL | Request) => {
  const issuer = new URL(input instanceof Request ? input.url : input).origin;
  requests.push(issuer);
  return Promise.resolve(issuerAnswer(issuer, input, jwks[issuer]!));
};

function token(iss: string, privateKey: CryptoKey): Promise<string> {
  return signAccessToken(testClaims(iss, NOW, { jti: `t-${iss}` }), {
    kid: "k1",
    privateKey,
  });
}

const options = { audience: "https://api.example.com", now: NOW };
const refused = (error: unknown) =>
  error instanceof Auth4AgentError && error.code === "ERR_TOKEN_INVALID";

Deno.test("TrustedIssuers: each issuer's tokens verify with its own keys", async () => {
  const trusted = TrustedIssuers.of([A, B], { fetch });
  assert.deepEqual(trusted.issuers, [A, B]);
  assert.equal(
    (await trusted.verify(await token(A, keyA.privateKey), options)).iss,
    A,
  );
  assert.equal(
    (await trusted.verify(await token(B, keyB.privateKey), options)).iss,
    B,
  );
});

Deno.test("TrustedIssuers: an issuer not trusted is refused without a request; a token cannot pick the other issuer's key", async () => {
  const trusted = TrustedIssuers.of([A, B], { fetch });
  requests.length = 0;
  await assert.rejects(
    trusted.verify(await token("https://evil.test", keyA.privateKey), options),
    refused,
  );
  assert.deepEqual(requests, []);
  // Claims A, signed by B's key under the same kid: A's keys refuse it.
  await assert.rejects(
    trusted.verify(await token(A, keyB.privateKey), options),
    refused,
  );
  // Trusting A alone: B's own tokens are refused too.
  await assert.rejects(
    TrustedIssuers.of([A], { fetch }).verify(
      await token(B, keyB.privateKey),
      options,
    ),
    refused,
  );
});

Deno.test("TrustedIssuers: no issuer, or one twice, is a configuration error", () => {
  for (const issuers of [[], [A, `${A}/`]]) {
    assert.throws(
      () => TrustedIssuers.of(issuers, { fetch }),
      (error: unknown) =>
        error instanceof Auth4AgentError && error.code === "ERR_USAGE",
    );
  }
});

Deno.test("TrustedIssuers.verifyRequest: a request's Bearer token of either issuer; an untrusted one is refused with its challenge", async () => {
  const trusted = TrustedIssuers.of([A, B], { fetch });
  const request = (jwt: string) =>
    new Request("https://api.example.com/data", {
      headers: { Authorization: `Bearer ${jwt}` },
    });
  const claims = await trusted.verifyRequest(
    request(await token(B, keyB.privateKey)),
    options,
  );
  assert.equal(claims.iss, B);
  await assert.rejects(
    trusted.verifyRequest(
      request(await token("https://evil.test", keyA.privateKey)),
      options,
    ),
    (error) =>
      refused(error) && error instanceof Auth4AgentError &&
      error.status === 401 &&
      error.headers["WWW-Authenticate"] === 'Bearer error="invalid_token"',
  );
});
