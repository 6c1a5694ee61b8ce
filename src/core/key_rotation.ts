/**
 * Agent key rotation: the DID stays, the key changes. The request is signed
 * with the agent's current key (a request proof, see request_proof.ts) and
 * carries a statement signed with the NEW key — `typ: a4a-key-rotation+jwt`,
 * the new public key in the `jwk` header, `sub` = the DID and `prev` = the
 * RFC 7638 thumbprint of the key it replaces — so the issuer knows that the
 * old key authorized the change and that the agent holds the new key.
 */
import { randomToken } from "./encoding.ts";
import { fail } from "./errors.ts";
import {
  checkTimes,
  CLOCK_LEEWAY_SECONDS,
  hasTyp,
  inspectJws,
  nowSeconds,
  signCompactJws,
  verifyJwsSignature,
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
  return await Promise.resolve(signCompactJws(
    {
      typ: KEY_ROTATION_TYP,
      jwk: { kty: "OKP", crv: "Ed25519", x: input.next.publicJwk.x },
    },
    {
      sub: input.did,
      prev: await thumbprint(input.previous),
      iat: nowSeconds(input.now),
      jti: randomToken(16),
    },
    input.next.privateKey,
  ));
}

/** Returns the new key when the statement is valid for this DID and its current key. */
export async function verifyKeyRotationStatement(
  statement: string,
  expected: { did: string; current: Ed25519PublicJwk; now: Date },
): Promise<Ed25519PublicJwk> {
  const parts = inspectJws(statement, "ERR_INVALID_KEY", { allowJwk: true });
  const { header } = parts;
  if (!hasTyp(header, KEY_ROTATION_TYP)) {
    fail(
      "ERR_INVALID_KEY",
      `key rotation statement typ must be ${KEY_ROTATION_TYP}`,
    );
  }
  const next = parsePublicJwk(header.jwk);
  if (next.x === expected.current.x) {
    fail("ERR_INVALID_KEY", "the new key is the current key");
  }
  verifyJwsSignature(
    parts,
    await importPublicJwk(next),
    "ERR_INVALID_KEY",
    "key rotation statement (with the new key)",
  );
  const payload = parts.payload;
  checkTimes(
    payload,
    expected.now,
    "ERR_INVALID_KEY",
    "key rotation statement",
  );
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
