import assert from "node:assert/strict";
import { base64url, sha256, utf8 } from "../../src/core/encoding.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  createRequestProof,
  inspectRequestProof,
  REQUEST_PROOF_TYP,
  type RequestProofInput,
  verifyRequestProof,
} from "../../src/core/request_proof.ts";
import { at, code, NOW, NOW_S, signJwt } from "./_helpers.ts";

const signer = await generateKeyPair();
const stranger = await generateKeyPair();
const REQUEST = {
  method: "POST",
  path: "/v1/agents?x=1",
  body: utf8(
    '{"did":"did:agent:example.com:0123456789abcdef0123456789abcdef"}',
  ),
};

function proof(changes: Partial<RequestProofInput> = {}) {
  return createRequestProof({
    ...REQUEST,
    nonce: "nonce-1",
    privateKey: signer.privateKey,
    now: NOW,
    kid: "op_1",
    ...changes,
  });
}

function verify(
  jws: string,
  request = REQUEST,
  now = NOW,
  key = signer.publicKey,
) {
  return verifyRequestProof(jws, request, key, now);
}

const invalid = code("ERR_REQUEST_SIGNATURE_INVALID");

Deno.test("request proof: round trip for a registered signer (kid)", async () => {
  const jws = await proof();
  assert.deepEqual(inspectRequestProof(jws), {
    kid: "op_1",
    jwk: undefined,
    nonce: "nonce-1",
  });
  await verify(jws);
  await verify(jws, { ...REQUEST, method: "post" });
});

Deno.test("request proof: round trip for a new signer (jwk)", async () => {
  const jws = await proof({ kid: undefined, jwk: signer.publicJwk });
  assert.deepEqual(inspectRequestProof(jws), {
    kid: undefined,
    jwk: signer.publicJwk,
    nonce: "nonce-1",
  });
  await verify(jws);
});

Deno.test("request proof: exactly one of kid and jwk", async () => {
  assert.throws(() => inspectRequestProof(null), invalid);
  assert.throws(() => inspectRequestProof(""), invalid);
  const both = await proof({ jwk: signer.publicJwk });
  assert.throws(() => inspectRequestProof(both), invalid);
  const neither = await proof({ kid: undefined });
  assert.throws(() => inspectRequestProof(neither), invalid);
});

Deno.test("request proof: the proof covers method, path and body", async () => {
  const jws = await proof();
  await assert.rejects(verify(jws, { ...REQUEST, method: "PUT" }), invalid);
  await assert.rejects(
    verify(jws, { ...REQUEST, path: "/v1/agents" }),
    invalid,
  );
  await assert.rejects(
    verify(jws, { ...REQUEST, path: "/v1/agents?x=2" }),
    invalid,
  );
  await assert.rejects(verify(jws, { ...REQUEST, body: utf8("{}") }), invalid);
  await assert.rejects(
    verify(jws, { ...REQUEST, body: new Uint8Array() }),
    invalid,
  );
});

Deno.test("request proof: htm and htp must be strings, never stringified", async () => {
  const bsh = base64url(await sha256(REQUEST.body));
  const claims = {
    htm: "POST",
    htp: REQUEST.path,
    bsh,
    nonce: "n",
    iat: NOW_S,
  };
  const hostile = [{ toString: 1 }, { toString: null }, ["POST"], 1, null];
  for (const value of hostile) {
    for (const name of ["htm", "htp"]) {
      const jws = await signJwt(
        { ...claims, [name]: value },
        { alg: "EdDSA", typ: REQUEST_PROOF_TYP, kid: "op_1" },
        signer.privateKey,
      );
      await assert.rejects(
        verify(jws),
        invalid,
        `${name} ${JSON.stringify(value)}`,
      );
    }
  }
  // A mismatch names the signed method and path as JSON, control characters escaped.
  const jws = await signJwt(
    { ...claims, htp: "/v1/x\n" },
    { alg: "EdDSA", typ: REQUEST_PROOF_TYP, kid: "op_1" },
    signer.privateKey,
  );
  await assert.rejects(verify(jws), (error) => {
    assert.ok(error instanceof Auth4AgentError);
    assert.equal(error.code, "ERR_REQUEST_SIGNATURE_INVALID");
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(error.message.includes('"/v1/x\\n"'), error.message);
    return true;
  });
});

Deno.test("request proof: iat within 5 minutes back and 30 s ahead of the clock", async () => {
  const jws = await proof();
  await verify(jws, REQUEST, at(300));
  await assert.rejects(verify(jws, REQUEST, at(301)), invalid);
  await verify(jws, REQUEST, at(-30));
  await assert.rejects(verify(jws, REQUEST, at(-31)), invalid);
});

Deno.test("request proof: a nonce and the a4a-request+jwt typ are required", async () => {
  const noNonce = await signJwt(
    { htm: "POST", htp: REQUEST.path, iat: NOW_S },
    { alg: "EdDSA", typ: REQUEST_PROOF_TYP, kid: "op_1" },
    signer.privateKey,
  );
  assert.throws(() => inspectRequestProof(noNonce), invalid);
  const emptyNonce = await proof({ nonce: "" });
  assert.throws(() => inspectRequestProof(emptyNonce), invalid);
  for (const typ of ["JWT", "at+jwt", undefined]) {
    const jws = await signJwt(
      { htm: "POST", htp: REQUEST.path, nonce: "nonce-1", iat: NOW_S },
      { alg: "EdDSA", typ, kid: "op_1" },
      signer.privateKey,
    );
    assert.throws(() => inspectRequestProof(jws), invalid, String(typ));
    await assert.rejects(verify(jws), invalid, String(typ));
  }
});

Deno.test("request proof: another key's signature is refused", async () => {
  await assert.rejects(
    verify(await proof(), REQUEST, NOW, stranger.publicKey),
    invalid,
  );
  await assert.rejects(
    verify(await proof({ privateKey: stranger.privateKey })),
    invalid,
  );
});

Deno.test("request proof: an embedded jwk must be a good public key", async () => {
  const header = { alg: "EdDSA", typ: REQUEST_PROOF_TYP };
  const payload = { nonce: "nonce-1", iat: NOW_S };
  const badKeys = [
    {
      kty: "OKP",
      crv: "Ed25519",
      x: "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    }, // identity point
    { ...signer.publicJwk, d: "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A" },
    { kty: "EC", crv: "P-256", x: signer.publicJwk.x },
  ];
  for (const jwk of badKeys) {
    const jws = await signJwt(payload, { ...header, jwk }, signer.privateKey);
    assert.throws(
      () => inspectRequestProof(jws),
      code("ERR_INVALID_KEY"),
      JSON.stringify(jwk),
    );
  }
});
