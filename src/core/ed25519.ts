/**
 * The one place Ed25519 signatures are made and checked. Keys are WebCrypto
 * `CryptoKey`s everywhere (generated, imported and stored as such); the
 * signature work runs on Node's synchronous `node:crypto` Ed25519, built into
 * Deno, because it measured 85k signs/s and 41k verifies/s on one core
 * against WebCrypto's 27k and 23k (same machine, same run; see bench/).
 * Each CryptoKey is converted to a KeyObject once and cached.
 *
 * Registered principals' public keys, which a server holds thousands of, are
 * KeyObjects made straight from their JWK (`ed25519PublicKey`): a WebCrypto
 * import plus its KeyObject left ≈ 2 KB of garbage a key that V8 collected
 * late, and the server's RSS rose past 400 MB when tens of thousands of
 * agents took turns (bench/README.md, RSS); a KeyObject alone does not.
 */
import { createPublicKey, KeyObject, sign, verify } from "node:crypto";
import { plainView, type ReadableBytes } from "./encoding.ts";

/** A public key to verify with: a WebCrypto key, or a KeyObject from `ed25519PublicKey`. */
export type VerifyKey = CryptoKey | KeyObject;

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

/**
 * The verification key of an Ed25519 JWK's `x`, already checked (a key from
 * the store was checked by parsePublicJwk when it was registered).
 */
export function ed25519PublicKey(x: string): KeyObject {
  return createPublicKey({
    key: { kty: "OKP", crv: "Ed25519", x },
    format: "jwk",
  });
}

function keyObject(key: CryptoKey): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    if (key.algorithm.name !== "Ed25519") {
      throw new TypeError("not an Ed25519 key");
    }
    object = KeyObject.from(key);
    keyObjects.set(key, object);
  }
  return object;
}

export function signEd25519(
  privateKey: CryptoKey,
  data: ReadableBytes,
): Uint8Array {
  if (privateKey.type !== "private" || !privateKey.usages.includes("sign")) {
    throw new TypeError("not an Ed25519 signing key");
  }
  // node:crypto reads the bytes of the view only (its byteOffset and length)
  // and answers with a Buffer.
  return plainView(sign(null, data as Uint8Array, keyObject(privateKey)));
}

export function verifyEd25519(
  publicKey: VerifyKey,
  data: ReadableBytes,
  signature: ReadableBytes,
): boolean {
  if (publicKey.type !== "public" || signature.length !== 64) return false;
  const object = publicKey instanceof KeyObject
    ? publicKey
    : keyObject(publicKey);
  if (object.asymmetricKeyType !== "ed25519") return false;
  return verify(null, data as Uint8Array, object, signature as Uint8Array);
}
