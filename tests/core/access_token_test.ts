import assert from "node:assert/strict";
import {
  type AccessTokenClaims,
  DELEGATION_TYP,
  newTokenId,
  signAccessToken,
  verifyAccessToken,
  type VerifyAccessTokenOptions,
} from "../../src/core/access_token.ts";
import { fromBase64url, fromUtf8 } from "../../src/core/encoding.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { at, code, NOW, NOW_S, signJwt } from "./_helpers.ts";

const ISSUER = "https://issuer.example";
const DID = "did:agent:example.com:0123456789abcdef0123456789abcdef";
const issuerKey = await generateKeyPair();
const otherKey = await generateKeyPair();
const signingKey = { kid: "k1", privateKey: issuerKey.privateKey };

const CLAIMS: AccessTokenClaims = {
  iss: ISSUER,
  sub: DID,
  aud: "api.example.com",
  scope: "read:a write:b",
  client_id: DID,
  iat: NOW_S,
  exp: NOW_S + 900,
  jti: "jti-1",
  domain: "example.com",
};

function verify(
  token: string,
  options: Partial<VerifyAccessTokenOptions> = {},
) {
  return verifyAccessToken(token, {
    issuer: ISSUER,
    key: (kid) => kid === "k1" ? issuerKey.publicKey : undefined,
    now: NOW,
    ...options,
  });
}

/** A token with these claims changed, signed by the issuer's key unless told. */
function token(
  changes: Record<string, unknown> = {},
  header = {},
  key = issuerKey.privateKey,
) {
  return signJwt({ ...CLAIMS, ...changes }, {
    alg: "EdDSA",
    typ: "at+jwt",
    kid: "k1",
    ...header,
  }, key);
}

Deno.test("access token: sign then verify returns the claims", async () => {
  const jwt = await signAccessToken(CLAIMS, signingKey);
  const [header] = jwt.split(".");
  assert.deepEqual(JSON.parse(fromUtf8(fromBase64url(header!))), {
    alg: "EdDSA",
    typ: "at+jwt",
    kid: "k1",
  });
  assert.deepEqual(await verify(jwt), CLAIMS);
  assert.deepEqual(
    await verify(jwt, {
      audience: "api.example.com",
      scopes: ["read:a", "write:b"],
    }),
    CLAIMS,
  );
});

Deno.test("access token: expiry with 30 s of leeway, on both sides of the boundary", async () => {
  const jwt = await signAccessToken(CLAIMS, signingKey);
  assert.ok(await verify(jwt, { now: at(900) }));
  assert.ok(await verify(jwt, { now: at(929) }));
  await assert.rejects(
    verify(jwt, { now: at(930) }),
    code("ERR_TOKEN_EXPIRED"),
  );
  await assert.rejects(
    verify(jwt, { now: at(100_000) }),
    code("ERR_TOKEN_EXPIRED"),
  );
});

Deno.test("access token: iat in the future beyond the leeway is refused", async () => {
  assert.ok(await verify(await token({ iat: NOW_S + 30 })));
  await assert.rejects(
    verify(await token({ iat: NOW_S + 31 })),
    code("ERR_TOKEN_INVALID"),
  );
});

Deno.test("access token: wrong issuer, audience or scope", async () => {
  const jwt = await signAccessToken(CLAIMS, signingKey);
  await assert.rejects(
    verify(jwt, { issuer: "https://other.example" }),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(jwt, { audience: "other.example.com" }),
    code("ERR_TOKEN_AUDIENCE"),
  );
  await assert.rejects(
    verify(jwt, { scopes: ["read:a", "admin"] }),
    code("ERR_TOKEN_SCOPE"),
  );
});

Deno.test("access token: typ, alg and kid are checked", async () => {
  await assert.rejects(
    verify(await token({}, { typ: "JWT" })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({}, { typ: undefined })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({}, { alg: "Ed25519" })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({}, { kid: "k2" })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({}, { kid: undefined })),
    code("ERR_TOKEN_INVALID"),
  );
});

Deno.test("access token: a signature by another key or over another payload is refused", async () => {
  await assert.rejects(
    verify(await token({}, {}, otherKey.privateKey)),
    code("ERR_TOKEN_INVALID"),
  );
  const real = (await token()).split(".");
  const wider = (await token({ scope: "read:a write:b admin" })).split(".");
  const swapped = [real[0], wider[1], real[2]].join(".");
  await assert.rejects(verify(swapped), code("ERR_TOKEN_INVALID"));
});

Deno.test("access token: claims RFC 9068 requires, and sub = client_id", async () => {
  const bad: Record<string, unknown>[] = [
    { client_id: "did:agent:example.com:ffffffffffffffffffffffffffffffff" },
    { sub: "agent-1", client_id: "agent-1" },
    { jti: undefined },
    { scope: undefined },
    { scope: "a  b" },
    { domain: undefined },
    { iat: undefined },
    { iat: NOW_S + 0.5 },
    { aud: ["api.example.com"] },
    { exp: NOW_S + 86_401 }, // a lifetime no issuer gives: forged
  ];
  for (const changes of bad) {
    await assert.rejects(
      verify(await token(changes)),
      code("ERR_TOKEN_INVALID"),
      JSON.stringify(changes),
    );
  }
});

const ACTOR = "did:agent:example.org:fedcba9876543210fedcba9876543210";
const EARLIER = "did:agent:example.net:00112233445566778899aabbccddeeff";

Deno.test("access token: a delegated token's act chain and may_act (RFC 8693) come back as issued", async () => {
  const delegated = {
    client_id: ACTOR,
    act: { sub: ACTOR, act: { sub: EARLIER } },
  };
  const claims = await verify(await token(delegated));
  assert.equal(claims.sub, DID);
  assert.equal(claims.client_id, ACTOR);
  assert.deepEqual(claims.act, delegated.act);
  const mayAct = await verify(
    await token({ may_act: { sub: ACTOR } }, { typ: DELEGATION_TYP }),
    { typ: DELEGATION_TYP },
  );
  assert.deepEqual(mayAct.may_act, { sub: ACTOR });
  assert.equal(mayAct.act, undefined);
  // A delegation is never an access token, nor the other way round.
  await assert.rejects(
    verify(await token({ may_act: { sub: ACTOR } })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({ may_act: { sub: ACTOR } }, { typ: DELEGATION_TYP })),
    code("ERR_TOKEN_INVALID"),
  );
  await assert.rejects(
    verify(await token({}, { typ: DELEGATION_TYP }), { typ: DELEGATION_TYP }),
    code("ERR_TOKEN_INVALID"),
  );
  // signAccessToken types a token with may_act as a delegation.
  const signed = await signAccessToken(
    { ...CLAIMS, may_act: { sub: ACTOR } },
    signingKey,
  );
  assert.deepEqual(
    (await verify(signed, { typ: DELEGATION_TYP })).may_act,
    { sub: ACTOR },
  );
  // Four actors is the longest chain.
  const four = {
    sub: ACTOR,
    act: { sub: EARLIER, act: { sub: ACTOR, act: { sub: EARLIER } } },
  };
  await verify(await token({ client_id: ACTOR, act: four }));
});

Deno.test("access token: act names the client holding it, as DIDs, nothing else", async () => {
  const bad: Record<string, unknown>[] = [
    { act: { sub: ACTOR } }, // client_id is still the subject
    { client_id: ACTOR }, // a client other than sub, with no act
    { client_id: ACTOR, act: { sub: EARLIER, act: { sub: ACTOR } } },
    { client_id: ACTOR, act: ACTOR },
    { client_id: ACTOR, act: [{ sub: ACTOR }] },
    { client_id: ACTOR, act: { sub: ACTOR, iss: "elsewhere" } },
    { client_id: "bob", act: { sub: "bob" } },
    { client_id: ACTOR, act: { sub: ACTOR, act: null } },
    {
      client_id: ACTOR,
      act: {
        sub: ACTOR,
        act: {
          sub: ACTOR,
          act: { sub: ACTOR, act: { sub: ACTOR, act: { sub: ACTOR } } },
        },
      },
    },
    { may_act: ACTOR },
    { may_act: { sub: "bob" } },
    { may_act: { sub: ACTOR, exp: 1 } },
    { may_act: { sub: ACTOR } }, // in an access token
  ];
  for (const changes of bad) {
    await assert.rejects(
      verify(await token(changes)),
      code("ERR_TOKEN_INVALID"),
      JSON.stringify(changes),
    );
  }
});

Deno.test("access token: a federated token's federation claim (the peer that vouched) comes back as issued; malformed, refused", async () => {
  const federation = { iss: "https://peer.example" };
  const signed = await signAccessToken({ ...CLAIMS, federation }, signingKey);
  assert.deepEqual(await verify(signed), { ...CLAIMS, federation });
  assert.equal((await verify(await token())).federation, undefined);
  // With the traded token's status list entry, as B issues it.
  const withStatus = {
    iss: "https://peer.example",
    status: { status_list: { idx: 7, uri: "https://peer.example/sl/0" } },
  };
  assert.deepEqual(
    (await verify(await token({ federation: withStatus }))).federation,
    withStatus,
  );
  for (
    const bad of [
      "https://peer.example",
      { iss: "" },
      { iss: 7 },
      {},
      { iss: "https://peer.example", domains: ["example.com"] },
      { iss: "https://peer.example", status: { status_list: { idx: -1 } } },
      null,
    ]
  ) {
    await assert.rejects(
      verify(await token({ federation: bad })),
      code("ERR_TOKEN_INVALID"),
      JSON.stringify(bad),
    );
  }
});

Deno.test("access token: federated tokens are taken by default, refused with federated false, taken only from the peers listed", async () => {
  const fromPeer = await token({ federation: { iss: "https://peer.example" } });
  const native = await token();
  for (const federated of [undefined, true, ["https://peer.example"]]) {
    assert.equal(
      (await verify(fromPeer, { federated })).federation?.iss,
      "https://peer.example",
    );
  }
  for (const federated of [false, [], ["https://other.example"]]) {
    await assert.rejects(
      verify(fromPeer, { federated }),
      code("ERR_TOKEN_FEDERATED"),
      JSON.stringify(federated),
    );
    // The issuer's own agents' tokens are never refused for it.
    assert.equal((await verify(native, { federated })).sub, DID);
  }
});

Deno.test("access token: another issuer's token is told so before its kid is looked up (no fetch of this issuer's keys)", async () => {
  let lookups = 0;
  const other = await token({ iss: "https://other.example" }, {
    kid: "theirs",
  });
  await assert.rejects(
    verifyAccessToken(other, {
      issuer: ISSUER,
      key: () => {
        lookups++;
        return undefined;
      },
      now: NOW,
    }),
    (error: Error) =>
      /is not the issuer https:\/\/issuer\.example/.test(error.message),
  );
  assert.equal(lookups, 0);
});

Deno.test("access token: garbage is ERR_TOKEN_INVALID", async () => {
  for (const jwt of ["", "a.b.c", "not a token"]) {
    await assert.rejects(verify(jwt), code("ERR_TOKEN_INVALID"), jwt);
  }
});

Deno.test("access token: new ids sort in issue order and never repeat", () => {
  const start = Date.UTC(2026, 10, 28);
  const ids = Array.from(
    { length: 2_000 },
    (_, i) => newTokenId(new Date(start + Math.floor(i / 10))),
  );
  assert.equal(new Set(ids).size, ids.length);
  for (let i = 10; i < ids.length; i += 10) {
    // Across milliseconds, ASCII order (SQLite's BINARY collation) is time order.
    assert.ok(ids[i - 1]!.slice(0, 9) < ids[i]!.slice(0, 9));
    assert.ok(ids[i - 1]! < ids[i]!);
  }
  assert.match(ids[0]!, /^[0-9a-z]{9}[A-Za-z0-9_-]{16}$/);
});
