/**
 * Agent key rotation: the DID stays, the key changes. The request is signed
 * with the agent's current key (a request proof, see request_proof.ts) and
 * carries a statement signed with the NEW key — `typ: a4a-key-rotation+jwt`,
 * the new public key in the `jwk` header, `sub` = the DID and `prev` = the
 * RFC 7638 thumbprint of the key it replaces — so the issuer knows that the
 * old key authorized the change and that the agent holds the new key.
 */
import * as jose from "jose";
import { randomToken } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";
import {
  ACCEPTED_ALGS,
  CLOCK_LEEWAY_SECONDS,
  inspectJws,
  nowSeconds,
  SIGNING_ALG,
} from "./jws.ts";
import {
  type Ed25519PublicJwk,
  importPublicJwk,
  parsePublicJwk,
  thumbprint,
} from "./keys.ts";

export const KEY_ROTATION_TYP = "a4a-key-rotation+jwt";
const MAX_AGE_SECONDS = 300;

export async function createKeyRotationStatement(input: {
  did: string;
  previous: Ed25519PublicJwk;
  next: { privateKey: CryptoKey; publicJwk: Ed25519PublicJwk };
  now: Date;
}): Promise<string> {
  return await new jose.SignJWT({
    sub: input.did,
    prev: await thumbprint(input.previous),
    iat: nowSeconds(input.now),
    jti: randomToken(16),
  })
    .setProtectedHeader({
      alg: SIGNING_ALG,
      typ: KEY_ROTATION_TYP,
      jwk: { kty: "OKP", crv: "Ed25519", x: input.next.publicJwk.x },
    })
    .sign(input.next.privateKey);
}

/** Returns the new key when the statement is valid for this DID and its current key. */
export async function verifyKeyRotationStatement(
  statement: string,
  expected: { did: string; current: Ed25519PublicJwk; now: Date },
): Promise<Ed25519PublicJwk> {
  const { header } = inspectJws(statement, "ERR_INVALID_KEY", {
    allowJwk: true,
  });
  if (header.typ !== KEY_ROTATION_TYP) {
    fail(
      "ERR_INVALID_KEY",
      `key rotation statement typ must be ${KEY_ROTATION_TYP}`,
    );
  }
  const next = parsePublicJwk(header.jwk);
  if (next.x === expected.current.x) {
    fail("ERR_INVALID_KEY", "the new key is the current key");
  }
  let payload: jose.JWTPayload;
  try {
    ({ payload } = await jose.jwtVerify(
      statement,
      await importPublicJwk(next),
      {
        algorithms: [...ACCEPTED_ALGS],
        typ: KEY_ROTATION_TYP,
        currentDate: expected.now,
        clockTolerance: CLOCK_LEEWAY_SECONDS,
      },
    ));
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_INVALID_KEY",
      "the key rotation statement is not signed by the new key",
      { cause },
    );
  }
  if (payload.sub !== expected.did) {
    fail("ERR_INVALID_KEY", "the key rotation statement is for another DID");
  }
  if (payload.prev !== await thumbprint(expected.current)) {
    fail(
      "ERR_INVALID_KEY",
      "the key rotation statement does not name the current key",
    );
  }
  const now = nowSeconds(expected.now);
  if (
    typeof payload.iat !== "number" ||
    payload.iat > now + CLOCK_LEEWAY_SECONDS ||
    payload.iat < now - MAX_AGE_SECONDS
  ) {
    fail(
      "ERR_INVALID_KEY",
      "the key rotation statement is too old or from the future",
    );
  }
  return next;
}
