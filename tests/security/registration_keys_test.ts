/**
 * Registration refuses agent and operator public keys that are points of
 * small order (with them, one signature can verify for every message) or
 * not canonical encodings (y ≥ p), with ERR_INVALID_KEY, and stores nothing:
 * no agent, no operator, no audit event but a denial. Each refused request is signed with
 * the small-order forgery (R = the identity point, S = 0) — what an attacker
 * holding no private key would send.
 */
import assert from "node:assert/strict";
import { didForKey } from "../../src/core/did.ts";
import {
  base64url,
  randomToken,
  sha256,
  utf8,
} from "../../src/core/encoding.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { type Ed25519PublicJwk, generateKeyPair } from "../../src/core/keys.ts";
import {
  REQUEST_PROOF_HEADER,
  REQUEST_PROOF_TYP,
} from "../../src/core/request_proof.ts";
import {
  assertError,
  assertNoInternalErrors,
  assertOk,
  createVerifiedOperator,
  type Fixture,
  freshNonce,
  JSON_TYPE,
  send,
  withFixture,
} from "../serve/helpers.ts";
import { ed25519, filled, hexBytes, part } from "./_forge.ts";

const FF30 = "ff".repeat(30);

/** Encodings of x (hex, little-endian) that must never become a registered key. */
const BAD_KEYS: [string, string][] = [
  ["32 zero bytes (small order: y = 0)", "00".repeat(32)],
  ["0x01 then 31 zero bytes (the identity point)", "01" + "00".repeat(31)],
  [
    "a point of order 8",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  ],
  [
    "a point of order 8, sign bit set",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
  ],
  [
    "the other point of order 8",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  ],
  [
    "the other point of order 8, sign bit set",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  ],
  ["y = p − 1 (order 2)", "ec" + FF30 + "7f"],
  ["the identity point with the sign bit set", "01" + "00".repeat(30) + "80"],
  ["y = 0 with the sign bit set", "00".repeat(31) + "80"],
  ["non-canonical y = p (0xed, 30 × 0xff, 0x7f)", "ed" + FF30 + "7f"],
  ["non-canonical y = p + 1", "ee" + FF30 + "7f"],
  ["non-canonical y = p + 2", "ef" + FF30 + "7f"],
  ["non-canonical y = p, sign bit set", "ed" + FF30 + "ff"],
  ["32 0xff bytes (y = 2^255 − 1)", "ff".repeat(32)],
  ["31 bytes", "01".repeat(31)],
  ["33 bytes", "01".repeat(33)],
];

/** The small-order forgery: R = the identity point, S = 0. */
const IDENTITY_SIGNATURE = new Uint8Array([
  ...hexBytes("01" + "00".repeat(31)),
  ...filled(32, 0),
]);

/**
 * A registration request proof assembled by hand, embedding `jwk`; signed by
 * `privateKey`, or carrying the small-order forgery without one.
 */
async function proofFor(
  fx: Fixture,
  path: string,
  body: string,
  jwk: Ed25519PublicJwk,
  privateKey?: CryptoKey,
): Promise<string> {
  const input = `${part({ alg: "EdDSA", typ: REQUEST_PROOF_TYP, jwk })}.${
    part({
      htm: "POST",
      htp: path,
      bsh: base64url(await sha256(utf8(body))),
      nonce: await freshNonce(fx),
      iat: nowSeconds(fx.clock.now()),
      jti: randomToken(16),
    })
  }`;
  const signature = privateKey
    ? await ed25519(privateKey, input)
    : IDENTITY_SIGNATURE;
  return `${input}.${base64url(signature)}`;
}

function register(
  fx: Fixture,
  path: string,
  body: string,
  proof: string,
): Promise<Response> {
  return send(fx, path, {
    method: "POST",
    headers: { "Content-Type": JSON_TYPE, [REQUEST_PROOF_HEADER]: proof },
    body,
  });
}

/** The sequence number of the newest audit entry (0 when there is none). */
async function lastAuditSeq(fx: Fixture): Promise<number> {
  return (await fx.store.listAudit({ limit: 100_000 })).at(-1)?.seq ?? 0;
}

/** Nothing succeeded since `seq`: a denial may be audited, a registration not. */
async function assertNothingRecordedSince(
  fx: Fixture,
  seq: number,
): Promise<void> {
  const since = await fx.store.listAudit({ afterSeq: seq, limit: 100_000 });
  assert.deepEqual(
    since.filter((entry) => entry.outcome !== "denied"),
    [],
  );
}

const jwkOf = (hex: string): Ed25519PublicJwk => ({
  kty: "OKP",
  crv: "Ed25519",
  x: base64url(hexBytes(hex)),
});

Deno.test("registration: small-order and non-canonical agent keys are refused and nothing is stored", async (t) => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const path = "/v1/agents";
    for (const [name, hex] of BAD_KEYS) {
      await t.step(name, async () => {
        const jwk = jwkOf(hex);
        const did = await didForKey("example.com", jwk);
        const body = JSON.stringify({ did, operator_id: operator.id });
        const before = await lastAuditSeq(fx);
        await assertError(
          await register(fx, path, body, await proofFor(fx, path, body, jwk)),
          400,
          "ERR_INVALID_KEY",
          "invalid_request",
        );
        assert.equal(await fx.store.getAgent(did), undefined);
        await assertNothingRecordedSince(fx, before);
      });
    }
    await t.step(
      "control: the same request with a real key registers",
      async () => {
        const pair = await generateKeyPair();
        const did = await didForKey("example.com", pair.publicJwk);
        const body = JSON.stringify({ did, operator_id: operator.id });
        await assertOk(
          await register(
            fx,
            path,
            body,
            await proofFor(fx, path, body, pair.publicJwk, pair.privateKey),
          ),
          201,
        );
        assert.equal(
          (await fx.store.getAgent(did))?.publicJwk.x,
          pair.publicJwk.x,
        );
      },
    );
    assertNoInternalErrors(fx);
  });
});

Deno.test("registration: small-order and non-canonical operator keys are refused and nothing is stored", async (t) => {
  await withFixture(async (fx) => {
    const path = "/v1/operators";
    const body = JSON.stringify({ domain: "attacker.example" });
    for (const [name, hex] of BAD_KEYS) {
      await t.step(name, async () => {
        const before = await lastAuditSeq(fx);
        await assertError(
          await register(
            fx,
            path,
            body,
            await proofFor(fx, path, body, jwkOf(hex)),
          ),
          400,
          "ERR_INVALID_KEY",
          "invalid_request",
        );
        await assertNothingRecordedSince(fx, before);
      });
    }
    await t.step(
      "control: the same request with a real key registers",
      async () => {
        const pair = await generateKeyPair();
        const before = await lastAuditSeq(fx);
        const created = await assertOk<{ operator_id: string }>(
          await register(
            fx,
            path,
            body,
            await proofFor(fx, path, body, pair.publicJwk, pair.privateKey),
          ),
          201,
        );
        const stored = await fx.store.getOperator(created.operator_id);
        assert.equal(stored?.publicJwk.x, pair.publicJwk.x);
        // The audit check above would have seen this registration.
        const since = await fx.store.listAudit({
          afterSeq: before,
          limit: 100,
        });
        assert.ok(
          since.some((entry) =>
            entry.action === "operator.register" &&
            entry.outcome === "success"
          ),
        );
      },
    );
    assertNoInternalErrors(fx);
  });
});
