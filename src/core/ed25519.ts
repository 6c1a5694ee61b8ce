/**
 * The one place Ed25519 signatures are made and checked. Keys are WebCrypto
 * `CryptoKey`s everywhere (generated, imported and stored as such); the
 * signature work runs on Node's synchronous `node:crypto` Ed25519, built into
 * Deno, because it measured 85k signs/s and 41k verifies/s on one core
 * against WebCrypto's 27k and 23k (same machine, same run; see bench/).
 * Each CryptoKey is converted to a KeyObject once and cached.
 */
import { KeyObject, sign, verify } from "node:crypto";
import { plainView, type ReadableBytes } from "./encoding.ts";

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

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
  publicKey: CryptoKey,
  data: ReadableBytes,
  signature: ReadableBytes,
): boolean {
  if (publicKey.type !== "public" || signature.length !== 64) return false;
  return verify(
    null,
    data as Uint8Array,
    keyObject(publicKey),
    signature as Uint8Array,
  );
}
