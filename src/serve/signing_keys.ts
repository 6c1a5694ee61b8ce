/**
 * The issuer's signing keys: made on first start and kept in the store, so a
 * restart never invalidates tokens. The newest key signs; every key stays in
 * the JWKS until the tokens it signed can no longer be valid.
 */
import {
  generateKeyPair,
  importPrivateKeyPem,
  thumbprint,
} from "../core/keys.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";
import type { Store } from "../store/store.ts";

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
  createdAt: Date;
  retiredAt?: Date;
}

export class KeyRing {
  #keys: SigningKey[];

  private constructor(keys: SigningKey[]) {
    this.#keys = keys;
  }

  /** Loads the store's keys, creating the first one when there is none. */
  static async open(store: Store, now: Date): Promise<KeyRing> {
    let records = await store.listSigningKeys();
    if (records.length === 0) {
      const pair = await generateKeyPair();
      const kid = await thumbprint(pair.publicJwk);
      await store.addSigningKey({
        kid,
        privatePem: pair.pem,
        publicJwk: pair.publicJwk,
        createdAt: now,
      });
      records = await store.listSigningKeys();
    }
    const keys = await Promise.all(records.map(async (record) => {
      const pair = await importPrivateKeyPem(record.privatePem);
      return {
        kid: record.kid,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        publicJwk: pair.publicJwk,
        createdAt: record.createdAt,
        retiredAt: record.retiredAt,
      };
    }));
    return new KeyRing(keys);
  }

  /** The key that signs new tokens: the newest one not retired. */
  get current(): SigningKey {
    return this.#keys.find((key) => !key.retiredAt) ?? this.#keys[0]!;
  }

  publicKey(kid: string): CryptoKey | undefined {
    return this.#keys.find((key) => key.kid === kid)?.publicKey;
  }

  /** RFC 7517 JWK Set of every verification key. */
  jwks(): {
    keys: (Ed25519PublicJwk & { kid: string; alg: "EdDSA"; use: "sig" })[];
  } {
    return {
      keys: this.#keys.map((key) => ({
        kty: "OKP",
        crv: "Ed25519",
        x: key.publicJwk.x,
        kid: key.kid,
        alg: "EdDSA",
        use: "sig",
      })),
    };
  }
}
