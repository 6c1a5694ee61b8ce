/**
 * The issuer's signing keys: made on first start and kept in the store, so a
 * restart never invalidates tokens. The newest active key that is not retired
 * signs. A rotated-in key is published KEY_PREPUBLISH_SECONDS before it signs,
 * so that every verifier's cached key set holds it by then (unless the
 * rotation is immediate, after a compromise). A retired key stays in the JWKS
 * until every token it signed has expired:
 * each server records its token lifetime on a key before signing with it
 * (the key's `tokenTtl`), so a restart with a shorter --token-ttl does not
 * unpublish a key whose longer-lived tokens are still out.
 * With a key-encryption key (KEK) the private keys rest encrypted; plaintext
 * keys found at start are encrypted in place.
 */
import {
  generateKeyPair,
  importPrivateKeyPem,
  thumbprint,
} from "../core/keys.ts";
import type { Ed25519PublicJwk } from "../core/keys.ts";
import { fail } from "../core/errors.ts";
import {
  decryptPrivateKey,
  encryptPrivateKey,
  isEncrypted,
} from "../core/key_encryption.ts";
import type { SigningKeyRecord, Store } from "../store/store.ts";
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
} from "../core/access_token.ts";
import { CLOCK_LEEWAY_SECONDS, JWKS_MAX_AGE_SECONDS } from "../core/jws.ts";

/** Running servers re-read the keys this often, so a rotation spreads to every instance. */
export const KEY_RELOAD_SECONDS = 30;
/**
 * How long a rotated-in key is published before it signs: every server has
 * reloaded the keys, then every verifier has refetched its cached key set,
 * with clock leeway on top.
 */
export const KEY_PREPUBLISH_SECONDS = KEY_RELOAD_SECONDS +
  JWKS_MAX_AGE_SECONDS + CLOCK_LEEWAY_SECONDS;
/** A token naming an unknown kid re-reads the keys at most this often. */
const UNKNOWN_KID_RELOAD_MS = 5_000;

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
  createdAt: Date;
  /** When it starts signing. */
  activeFrom: Date;
  retiredAt?: Date;
  /** The longest lifetime of a token it signed, in seconds; undefined: not known. */
  tokenTtl?: number;
}

export interface KeyRingOptions {
  kek?: CryptoKey;
  /** This server's token lifetime, in seconds (recorded on the key it signs with). */
  tokenTtl?: number;
}

/** Margin for clock leeway and for servers that have not reloaded the keys yet. */
const RETIRED_KEY_MARGIN_MS = (CLOCK_LEEWAY_SECONDS + 2 * KEY_RELOAD_SECONDS) *
  1000;

async function toStored(
  pem: string,
  kid: string,
  kek?: CryptoKey,
): Promise<string> {
  return kek ? await encryptPrivateKey(pem, kid, kek) : pem;
}

/** Encrypted signing keys need the KEK: to be read, and so that new keys are encrypted alike. */
export function requireKek(kek: CryptoKey | undefined): CryptoKey {
  if (!kek) {
    fail(
      "ERR_CONFIG",
      "the signing keys are encrypted: give --key-encryption-key-file or AUTH4AGENT_KEK",
    );
  }
  return kek;
}

async function fromStored(
  record: SigningKeyRecord,
  kek?: CryptoKey,
): Promise<string> {
  if (!isEncrypted(record.privatePem)) return record.privatePem;
  return await decryptPrivateKey(
    record.privatePem,
    record.kid,
    requireKek(kek),
  );
}

/**
 * Creates a new signing key in the store, to sign from `activeFrom` (default
 * `now`); every other key is retired then. `tokenTtl`: the lifetime of the
 * tokens the caller will sign with it (0 for an administrator's rotation: the
 * servers record theirs). `withdrawOthers` (a compromise): the other keys'
 * tokens stop counting, so they leave the JWKS within the reload margin.
 */
export async function rotateSigningKey(
  store: Store,
  now: Date,
  kek?: CryptoKey,
  options: {
    activeFrom?: Date;
    tokenTtl?: number;
    withdrawOthers?: boolean;
  } = {},
): Promise<string> {
  const activeFrom = options.activeFrom ?? now;
  const pair = await generateKeyPair();
  const kid = await thumbprint(pair.publicJwk);
  await store.addSigningKey({
    kid,
    privatePem: await toStored(pair.pem, kid, kek),
    publicJwk: pair.publicJwk,
    createdAt: now,
    activeFrom,
    tokenTtl: options.tokenTtl ?? 0,
  }, { retireOthersAt: activeFrom, withdrawOthers: options.withdrawOthers });
  return kid;
}

function signsAt(key: SigningKey, now: Date): boolean {
  return key.activeFrom <= now && !(key.retiredAt && key.retiredAt <= now);
}

export class KeyRing {
  #keys: SigningKey[] = [];
  #lastUnknownKidReload = -Infinity;
  readonly #store: Store;
  readonly #options: KeyRingOptions;

  private constructor(store: Store, options: KeyRingOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** Loads the store's keys, creating the first one when there is none. */
  static async open(
    store: Store,
    now: Date,
    options: KeyRingOptions = {},
  ): Promise<KeyRing> {
    const ring = new KeyRing(store, options);
    if ((await store.listSigningKeys()).length === 0) {
      await rotateSigningKey(store, now, options.kek, {
        tokenTtl: ring.#tokenTtl,
      });
    }
    await ring.reload(now, { encryptPlaintext: true });
    return ring;
  }

  /**
   * Re-reads the keys (a rotation by `auth4agent serve keys rotate` is picked
   * up here). Under a KEK, keys stored in plaintext are encrypted in place at
   * start (`encryptPlaintext`); one found later was not written by us and is
   * refused, as is a key whose kid is not its own thumbprint.
   */
  async reload(
    now: Date,
    options: { encryptPlaintext?: boolean } = {},
  ): Promise<void> {
    const records = await this.#store.listSigningKeys();
    const keys: SigningKey[] = [];
    for (const record of records) {
      const known = this.#keys.find((key) => key.kid === record.kid);
      if (known) {
        keys.push({
          ...known,
          activeFrom: record.activeFrom ?? record.createdAt,
          retiredAt: record.retiredAt,
          tokenTtl: record.tokenTtl,
        });
        continue;
      }
      const pem = await fromStored(record, this.#options.kek);
      const pair = await importPrivateKeyPem(pem);
      if (await thumbprint(pair.publicJwk) !== record.kid) {
        fail(
          "ERR_CONFIG",
          `signing key ${record.kid} is not the key its kid names (its thumbprint)`,
        );
      }
      if (this.#options.kek && !isEncrypted(record.privatePem)) {
        if (!options.encryptPlaintext) {
          fail(
            "ERR_CONFIG",
            `signing key ${record.kid} is stored unencrypted though a key-encryption key is in use; not loaded`,
          );
        }
        await this.#store.replaceSigningKeyMaterial(
          record.kid,
          await toStored(pem, record.kid, this.#options.kek),
        );
      }
      keys.push({
        kid: record.kid,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        publicJwk: pair.publicJwk,
        createdAt: record.createdAt,
        activeFrom: record.activeFrom ?? record.createdAt,
        retiredAt: record.retiredAt,
        tokenTtl: record.tokenTtl,
      });
    }
    // Before this server signs with a key, now or once it becomes active, the
    // key records this server's token lifetime (once written, it only grows).
    for (const key of keys) {
      const mayStillSign = !key.retiredAt || key.retiredAt > now;
      if (
        mayStillSign && key.tokenTtl !== undefined &&
        key.tokenTtl < this.#tokenTtl
      ) {
        await this.#store.raiseSigningKeyTokenTtl(key.kid, this.#tokenTtl);
        key.tokenTtl = this.#tokenTtl;
      }
    }
    this.#keys = keys;
  }

  get #tokenTtl(): number {
    return this.#options.tokenTtl ?? DEFAULT_TOKEN_TTL_SECONDS;
  }

  /**
   * The key that signs tokens at `now`: the newest one active and not
   * retired (failing that, as a last resort, the newest one).
   */
  signingKey(now: Date): SigningKey {
    return this.#keys.find((key) => signsAt(key, now)) ?? this.#keys[0]!;
  }

  #published(now: Date): SigningKey[] {
    return this.#keys.filter((key) =>
      !key.retiredAt ||
      now.getTime() - key.retiredAt.getTime() <
        (key.tokenTtl ?? MAX_TOKEN_TTL_SECONDS) * 1000 + RETIRED_KEY_MARGIN_MS
    );
  }

  /**
   * A verification key by kid; an unknown kid re-reads the store first (at
   * most every few seconds), since another instance sharing the database may
   * have made a key this one has not loaded yet.
   */
  async findPublicKey(kid: string, now: Date): Promise<CryptoKey | undefined> {
    const known = this.publicKey(kid, now);
    if (
      known ||
      now.getTime() - this.#lastUnknownKidReload < UNKNOWN_KID_RELOAD_MS
    ) {
      return known;
    }
    this.#lastUnknownKidReload = now.getTime();
    await this.reload(now);
    return this.publicKey(kid, now);
  }

  /** A verification key by kid, while it is still published. */
  publicKey(kid: string, now = new Date()): CryptoKey | undefined {
    return this.#published(now).find((key) => key.kid === kid)?.publicKey;
  }

  /** RFC 7517 JWK Set of every published verification key. */
  jwks(
    now = new Date(),
  ): {
    keys: (Ed25519PublicJwk & { kid: string; alg: "EdDSA"; use: "sig" })[];
  } {
    return {
      keys: this.#published(now).map((key) => ({
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
