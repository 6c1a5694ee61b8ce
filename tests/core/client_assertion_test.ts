import assert from "node:assert/strict";
import {
  createClientAssertion,
  inspectClientAssertion,
  verifyClientAssertion,
} from "../../src/core/client_assertion.ts";
import { fromBase64url, fromUtf8 } from "../../src/core/encoding.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { at, code, NOW, NOW_S, signJwt } from "./_helpers.ts";

const ISSUER = "https://issuer.example";
const TOKEN_ENDPOINT = `${ISSUER}/oauth/token`;
const DID = "did:agent:example.com:0123456789abcdef0123456789abcdef";
const agent = await generateKeyPair();
const stranger = await generateKeyPair();

function verify(assertion: string, now = NOW) {
  return verifyClientAssertion(assertion, {
    clientId: DID,
    audiences: [ISSUER, TOKEN_ENDPOINT],
    publicKey: agent.publicKey,
    now,
  });
}

const CLAIMS = {
  iss: DID,
  sub: DID,
  aud: ISSUER,
  jti: "jti-1",
  iat: NOW_S,
  exp: NOW_S + 60,
};

/** An assertion with these claims changed, signed by the agent's key unless told. */
function assertion(
  changes: Record<string, unknown> = {},
  header = {},
  key = agent.privateKey,
) {
  return signJwt({ ...CLAIMS, ...changes }, {
    alg: "EdDSA",
    typ: "JWT",
    ...header,
  }, key);
}

Deno.test("client assertion: create then verify", async () => {
  const jwt = await createClientAssertion({
    clientId: DID,
    audience: ISSUER,
    privateKey: agent.privateKey,
    now: NOW,
    nonce: "n-1",
  });
  const payload = JSON.parse(fromUtf8(fromBase64url(jwt.split(".")[1]!)));
  assert.equal(payload.iss, DID);
  assert.equal(payload.sub, DID);
  assert.equal(payload.aud, ISSUER);
  assert.equal(payload.exp - payload.iat, 60);
  assert.deepEqual(await verify(jwt), {
    jti: payload.jti,
    exp: NOW_S + 60,
    nonce: "n-1",
  });
  assert.equal(inspectClientAssertion(jwt).iss, DID);
});

Deno.test("client assertion: what standard clients send is accepted", async () => {
  const accepted = [
    await assertion({}, { alg: "Ed25519" }), // RFC 9864
    await assertion({}, { typ: undefined }),
    await assertion({}, { typ: "client-authentication+jwt" }),
    await assertion({}, { typ: "application/client-authentication+jwt" }), // RFC 7515 §4.1.9
    await assertion({}, { typ: "application/jwt" }),
    await assertion({ exp: NOW_S + 60.5 }), // RFC 7519 §2: a NumericDate may have a fraction
    await assertion({ iat: NOW_S - 0.25, nbf: NOW_S - 0.25 }),
    await assertion({ aud: ["https://other.example", ISSUER] }),
    await assertion({ aud: TOKEN_ENDPOINT }),
    await assertion({ iat: undefined }),
    await assertion({ exp: NOW_S + 300 }), // the longest lifetime
  ];
  for (const jwt of accepted) assert.equal((await verify(jwt)).jti, "jti-1");
});

Deno.test("client assertion: iss, sub and aud must name this client and this issuer", async () => {
  const refused = [
    { iss: "did:agent:example.com:ffffffffffffffffffffffffffffffff" },
    { sub: "did:agent:example.com:ffffffffffffffffffffffffffffffff" },
    { iss: undefined },
    { aud: "https://other.example" },
    { aud: [] },
    { aud: ["https://other.example"] },
    { aud: undefined },
  ];
  for (const changes of refused) {
    await assert.rejects(
      verify(await assertion(changes)),
      code("ERR_ASSERTION_INVALID"),
      JSON.stringify(changes),
    );
  }
});

Deno.test("client assertion: jti, exp and a short lifetime are required", async () => {
  const refused = [
    { jti: undefined },
    { jti: "" },
    { jti: "j".repeat(257) },
    { exp: undefined },
    { exp: String(NOW_S + 60) },
    { exp: -1 },
    { iat: "now" },
    { nbf: NOW_S + 30.5 },
    { exp: NOW_S + 301 }, // lifetime 301 s
    { iat: undefined, exp: NOW_S + 331 },
    { iat: NOW_S + 31, exp: NOW_S + 90 }, // issued in the future
    { nbf: NOW_S + 31 },
    { nonce: 42 },
  ];
  for (const changes of refused) {
    await assert.rejects(
      verify(await assertion(changes)),
      code("ERR_ASSERTION_INVALID"),
      JSON.stringify(changes),
    );
  }
});

Deno.test("client assertion: expiry with 30 s of leeway, on both sides of the boundary", async () => {
  const jwt = await assertion();
  assert.ok(await verify(jwt, at(89)));
  await assert.rejects(verify(jwt, at(90)), code("ERR_ASSERTION_INVALID"));
});

Deno.test("client assertion: an access token's typ is refused", async () => {
  await assert.rejects(
    verify(await assertion({}, { typ: "at+jwt" })),
    code("ERR_ASSERTION_INVALID"),
  );
});

Deno.test("client assertion: a typ that is not a string is refused, not stringified", async () => {
  for (const typ of [{ toString: 1 }, { toString: null }, ["JWT"], 1, null]) {
    await assert.rejects(
      verify(await assertion({}, { typ })),
      code("ERR_ASSERTION_INVALID"),
      JSON.stringify(typ),
    );
  }
});

Deno.test("client assertion: a signature by another key is ERR_BAD_SIGNATURE", async () => {
  await assert.rejects(
    verify(await assertion({}, {}, stranger.privateKey)),
    code("ERR_BAD_SIGNATURE"),
  );
  const real = (await assertion()).split(".");
  const other = (await assertion({ jti: "jti-2" })).split(".");
  await assert.rejects(
    verify([real[0], other[1], real[2]].join(".")),
    code("ERR_BAD_SIGNATURE"),
  );
});

Deno.test("inspectClientAssertion needs a well-formed JWS with an iss", async () => {
  assert.throws(
    () => inspectClientAssertion("x.y.z"),
    code("ERR_ASSERTION_INVALID"),
  );
  const noIss = await assertion({ iss: undefined });
  assert.throws(
    () => inspectClientAssertion(noIss),
    code("ERR_ASSERTION_INVALID"),
  );
});
