/**
 * The Token Status List's pieces (draft-ietf-oauth-status-list): the
 * compressed bit array against the draft's own example, the token's claim,
 * and the signed list with every check §8.3 asks of a relying party.
 */
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { base64url } from "../../src/core/encoding.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  decodeStatusList,
  encodeStatusList,
  MAX_STATUS_LIST_JWS_LENGTH,
  parseStatusClaim,
  signStatusList,
  STATUS_LIST_LIFETIME_SECONDS,
  STATUS_LIST_SIZE,
  statusAt,
  statusClaim,
  verifyStatusList,
} from "../../src/core/status_list.ts";
import { code, NOW, NOW_S, signJwt } from "./_helpers.ts";

const URI = "https://issuer.example/oauth/status-lists/3";
const issuerKey = await generateKeyPair();
const otherKey = await generateKeyPair();
const signingKey = { kid: "k1", privateKey: issuerKey.privateKey };
const key = (kid: string) => kid === "k1" ? issuerKey.publicKey : undefined;

Deno.test("status list: the draft's example (§4.1, bits 1) reads as written", () => {
  // status[0..15] = 1 0 0 1 1 1 0 1 1 1 0 0 0 1 0 1 → bytes 0xb9 0xa3.
  const bits = decodeStatusList("eNrbuRgAAhcBXQ");
  assert.deepEqual([...bits], [0xb9, 0xa3]);
  const expected = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
  expected.forEach((bit, idx) => {
    assert.equal(statusAt(bits, 1, idx), bit, `index ${idx}`);
  });
  assert.equal(statusAt(bits, 1, 16), undefined, "beyond the array");
});

Deno.test("status list: encoded bits come back, the list is small when sparse", () => {
  const revoked = [0, 7, 8, 4095, 65_536, STATUS_LIST_SIZE - 1];
  const lst = encodeStatusList(revoked);
  assert.ok(lst.length < 200, `${lst.length} characters`);
  const bits = decodeStatusList(lst);
  assert.equal(bits.length, STATUS_LIST_SIZE / 8);
  for (let idx = 0; idx < STATUS_LIST_SIZE; idx += 1) {
    if ((statusAt(bits, 1, idx) === 1) !== revoked.includes(idx)) {
      assert.fail(`index ${idx}`);
    }
  }
  assert.throws(() => encodeStatusList([STATUS_LIST_SIZE]), RangeError);
  assert.throws(() => encodeStatusList([-1]), RangeError);
});

Deno.test("status list: more than a list's bytes (a zip bomb) or garbage is refused", () => {
  const bomb = base64url(deflateSync(new Uint8Array(STATUS_LIST_SIZE)));
  assert.throws(() => decodeStatusList(bomb), code("ERR_STATUS_LIST_INVALID"));
  assert.throws(
    () => decodeStatusList("not-zlib"),
    code("ERR_STATUS_LIST_INVALID"),
  );
});

Deno.test("status list: the token's claim names its list and index", () => {
  assert.deepEqual(statusClaim("https://i.example", 5), {
    status_list: { idx: 5, uri: "https://i.example/oauth/status-lists/0" },
  });
  assert.deepEqual(statusClaim("https://i.example", 2 * STATUS_LIST_SIZE + 9), {
    status_list: { idx: 9, uri: "https://i.example/oauth/status-lists/2" },
  });
  const bad = [
    null,
    "x",
    {},
    { status_list: { idx: -1, uri: URI } },
    { status_list: { idx: 1.5, uri: URI } },
    { status_list: { idx: STATUS_LIST_SIZE, uri: URI } },
    { status_list: { idx: 1, uri: "not a uri" } },
    { status_list: { idx: "1", uri: URI } },
  ];
  for (const value of bad) {
    assert.throws(() => parseStatusClaim(value), Error, JSON.stringify(value));
  }
});

Deno.test("status list token: signed and verified with every §8.3 check", async () => {
  const lst = encodeStatusList([42]);
  const jwt = signStatusList({ uri: URI, iat: NOW_S, lst }, signingKey);
  const list = verifyStatusList(jwt, { uri: URI, key, now: NOW });
  assert.equal(statusAt(list.bits, list.width, 42), 1);
  assert.equal(statusAt(list.bits, list.width, 41), 0);
  assert.equal(list.exp, NOW_S + STATUS_LIST_LIFETIME_SECONDS);
  assert.ok(list.ttl > 0);

  const payload = {
    sub: URI,
    iat: NOW_S,
    exp: NOW_S + 600,
    ttl: 60,
    status_list: { bits: 1, lst },
  };
  const header = { alg: "EdDSA", typ: "statuslist+jwt", kid: "k1" };
  const bad: [string, string][] = [
    [
      "another uri",
      await signJwt(
        { ...payload, sub: URI + "0" },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "no exp",
      await signJwt(
        { ...payload, exp: undefined },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "expired",
      await signJwt(
        { ...payload, exp: NOW_S - 60 },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "no ttl",
      await signJwt(
        { ...payload, ttl: undefined },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "ttl of years",
      await signJwt({ ...payload, ttl: 1e9 }, header, issuerKey.privateKey),
    ],
    [
      "exp in years",
      await signJwt(
        { ...payload, exp: NOW_S + 3e8 },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "bits 3",
      await signJwt(
        { ...payload, status_list: { bits: 3, lst } },
        header,
        issuerKey.privateKey,
      ),
    ],
    [
      "typ",
      await signJwt(
        payload,
        { ...header, typ: "at+jwt" },
        issuerKey.privateKey,
      ),
    ],
    [
      "unknown kid",
      await signJwt(payload, { ...header, kid: "k2" }, issuerKey.privateKey),
    ],
    ["another key", await signJwt(payload, header, otherKey.privateKey)],
    ["too long", "a".repeat(MAX_STATUS_LIST_JWS_LENGTH + 1)],
  ];
  for (const [what, token] of bad) {
    assert.throws(
      () => verifyStatusList(token, { uri: URI, key, now: NOW }),
      code("ERR_STATUS_LIST_INVALID"),
      what,
    );
  }
});

Deno.test("status list token: the incompressible worst case (random bits) stays under the longest a verifier reads", () => {
  const revoked: number[] = [];
  for (let idx = 0; idx < STATUS_LIST_SIZE; idx++) {
    if (Math.random() < 0.5) revoked.push(idx);
  }
  const uri =
    "https://issuer.example.with.a.long.name/oauth/status-lists/999999999";
  const jwt = signStatusList(
    { uri, iat: NOW_S, lst: encodeStatusList(revoked) },
    signingKey,
  );
  assert.ok(jwt.length <= MAX_STATUS_LIST_JWS_LENGTH, `${jwt.length}`);
  const list = verifyStatusList(jwt, { uri, key, now: NOW });
  assert.equal(statusAt(list.bits, list.width, revoked[0]!), 1);
});

Deno.test("status list: the draft's 2-bit example (§4.1) reads as written, and verifies with bits 2", async () => {
  // status[0..11] = 1 2 0 3 0 1 0 1 1 2 3 3 → bytes 0xc9 0x44 0xf9.
  const lst = "eNo76fITAAPfAgc";
  const bytes = decodeStatusList(lst, 2);
  assert.deepEqual([...bytes], [0xc9, 0x44, 0xf9]);
  const expected = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
  expected.forEach((status, idx) => {
    assert.equal(statusAt(bytes, 2, idx), status, `index ${idx}`);
  });
  assert.equal(statusAt(bytes, 2, 12), undefined, "beyond the array");
  const jwt = await signJwt(
    {
      sub: URI,
      iat: NOW_S,
      exp: NOW_S + 600,
      ttl: 60,
      status_list: { bits: 2, lst },
    },
    { alg: "EdDSA", typ: "statuslist+jwt", kid: "k1" },
    issuerKey.privateKey,
  );
  const list = verifyStatusList(jwt, { uri: URI, key, now: NOW });
  assert.equal(list.width, 2);
  assert.equal(statusAt(list.bits, list.width, 1), 2);
});

Deno.test("status list: widths 4 and 8 read a token's status from its own bits", () => {
  assert.equal(statusAt(new Uint8Array([0xa5]), 4, 0), 0x5);
  assert.equal(statusAt(new Uint8Array([0xa5]), 4, 1), 0xa);
  assert.equal(statusAt(new Uint8Array([0x00, 0x03]), 8, 1), 3);
  assert.equal(statusAt(new Uint8Array([0x00, 0x03]), 8, 2), undefined);
});
