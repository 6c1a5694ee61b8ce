/**
 * Signing keys at rest, encrypted under a key-encryption key (KEK) that the
 * operator supplies by file or environment: AES-256-GCM, a fresh 96-bit IV
 * per key, and the key id as additional data so a ciphertext cannot be moved
 * to another row. Stored as `a4a-kek-v1.<iv>.<ciphertext>` (base64url).
 */
import { base64url, fromBase64url, fromUtf8, utf8 } from "./encoding.ts";
import { Auth4AgentError, fail } from "./errors.ts";

const PREFIX = "a4a-kek-v1";
const AAD_PREFIX = "auth4agent signing key ";

export function isEncrypted(stored: string): boolean {
  return stored.startsWith(PREFIX + ".");
}

/** Parses a KEK given as base64 or base64url text of exactly 32 bytes. */
export async function importKek(text: string): Promise<CryptoKey> {
  const cleaned = text.trim().replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = fromBase64url(cleaned);
  } catch {
    fail(
      "ERR_CONFIG",
      "the key-encryption key must be base64 text of 32 random bytes (e.g. `openssl rand -base64 32`)",
    );
  }
  if (raw.length !== 32) {
    fail(
      "ERR_CONFIG",
      `the key-encryption key must be 32 bytes, not ${raw.length}`,
    );
  }
  return await crypto.subtle.importKey("raw", raw, "AES-GCM", false, [
    "encrypt",
    "decrypt",
  ]);
}

export async function encryptPrivateKey(
  pem: string,
  kid: string,
  kek: CryptoKey,
): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: utf8(AAD_PREFIX + kid) },
    kek,
    utf8(pem),
  );
  return [PREFIX, base64url(iv), base64url(new Uint8Array(ciphertext))].join(
    ".",
  );
}

export async function decryptPrivateKey(
  stored: string,
  kid: string,
  kek: CryptoKey,
): Promise<string> {
  const [prefix, iv, ciphertext, ...rest] = stored.split(".");
  if (prefix !== PREFIX || !iv || !ciphertext || rest.length > 0) {
    fail("ERR_CONFIG", `signing key ${kid} is not in the ${PREFIX} format`);
  }
  try {
    const plain = await crypto.subtle.decrypt(
      {
        name: "AES-GCM",
        iv: fromBase64url(iv),
        additionalData: utf8(AAD_PREFIX + kid),
      },
      kek,
      fromBase64url(ciphertext),
    );
    return fromUtf8(new Uint8Array(plain));
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_CONFIG",
      `signing key ${kid} does not decrypt with the given key-encryption key (wrong key?)`,
      { cause },
    );
  }
}
