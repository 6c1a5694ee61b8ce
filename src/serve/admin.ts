/**
 * Administration of an issuer's database, for the host's administrator:
 * signing-key rotation and listing, and reading and checking the audit log.
 * These open the database directly (as `serve` does); a running server picks
 * a rotation up within KEY_RELOAD_SECONDS.
 */
import { decryptPrivateKey, isEncrypted } from "../core/key_encryption.ts";
import {
  type ChainCheck,
  checkChain,
  GENESIS_HASH,
} from "../store/audit_chain.ts";
import { openStore } from "../store/open.ts";
import type { AuditEntry, Store } from "../store/store.ts";
import {
  KEY_PREPUBLISH_SECONDS,
  requireKek,
  rotateSigningKey,
} from "./signing_keys.ts";

const PAGE = 1000;

/** `create: false`: a SQLite file that does not exist is an error (reads, checks). */
export async function withStore<T>(
  db: string,
  work: (store: Store) => Promise<T>,
  options: { create?: boolean } = {},
): Promise<T> {
  const store = await openStore(db, options);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * A new signing key, published at once; it signs from KEY_PREPUBLISH_SECONDS
 * later (verifiers' cached key sets hold it by then), or at once with
 * `immediately` (after a compromise: verifiers that cached the key set
 * refetch it on the unknown kid; every other key is withdrawn too: it leaves
 * the JWKS within the servers' reload margin, and the tokens it signed stop
 * verifying, since a leaked key's tokens cannot be told from forgeries). The
 * keys that would still sign then are retired then.
 */
export async function rotateKeys(
  store: Store,
  now: Date,
  kek?: CryptoKey,
  options: { immediately?: boolean } = {},
): Promise<{ kid: string; active_from: string; retired: string[] }> {
  const activeFrom = options.immediately
    ? now
    : new Date(now.getTime() + KEY_PREPUBLISH_SECONDS * 1000);
  const keys = await store.listSigningKeys();
  const before = keys.filter((key) =>
    !key.retiredAt || key.retiredAt > activeFrom
  )
    .map((key) => key.kid);
  const encrypted = keys.find((key) => isEncrypted(key.privatePem));
  if (encrypted) {
    // The KEK must be the one the keys are under: a wrong one would encrypt
    // the new current key so that no server could read it, and retire the
    // keys they can (ERR_CONFIG, before anything is written).
    await decryptPrivateKey(
      encrypted.privatePem,
      encrypted.kid,
      requireKek(kek),
    );
  }
  const kid = await rotateSigningKey(store, now, kek, {
    activeFrom,
    withdrawOthers: options.immediately,
  });
  return { kid, active_from: activeFrom.toISOString(), retired: before };
}

export async function listKeys(store: Store) {
  return (await store.listSigningKeys()).map((key) => ({
    kid: key.kid,
    created_at: key.createdAt.toISOString(),
    active_from: (key.activeFrom ?? key.createdAt).toISOString(),
    retired_at: key.retiredAt?.toISOString() ?? null,
    /** The longest lifetime of a token it signed, in seconds; null: not known. */
    token_ttl: key.tokenTtl ?? null,
    encrypted: isEncrypted(key.privatePem),
  }));
}

export async function listAudit(
  store: Store,
  options: { afterSeq?: number; limit: number },
): Promise<AuditEntry[]> {
  return await store.listAudit(options);
}

/** Walks the whole log in pages and checks the hash chain. */
export async function verifyAudit(store: Store): Promise<ChainCheck> {
  let state = { expectedSeq: 1, prevHash: GENESIS_HASH };
  let total = 0;
  for (;;) {
    const page = await store.listAudit({
      afterSeq: state.expectedSeq - 1,
      limit: PAGE,
    });
    const result = checkChain(page, state);
    total += result.entries;
    if (!result.ok) return { ...result, entries: total };
    state = result.next;
    if (page.length < PAGE) {
      return { ok: true, entries: total, lastHash: state.prevHash };
    }
  }
}
