/** Byte encodings used on the wire: base64url (RFC 4648 §5, no padding) and hex. */
import { Buffer } from "node:buffer";

/**
 * What a function that only reads bytes takes: any Uint8Array, or a scratch
 * view (below), whose `buffer` — the shared pool — is out of the type's reach.
 */
export type ReadableBytes = Omit<Uint8Array, "buffer">;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

/** The length of `text` in UTF-8 bytes, without encoding it. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** Decodes UTF-8, throwing a TypeError on invalid sequences. */
export function fromUtf8(bytes: ReadableBytes): string {
  return decoder.decode(bytes as Uint8Array);
}

// The built-in base64 of Uint8Array (TC39, in V8): several times faster than
// btoa/atob over strings, which the hot path paid for in every JWS.
interface Base64Bytes {
  toBase64(options: { alphabet: "base64url"; omitPadding: boolean }): string;
}
interface Base64Constructor {
  fromBase64(
    text: string,
    options: { alphabet: "base64url"; lastChunkHandling: "loose" },
  ): Uint8Array<ArrayBuffer>;
}

export function base64url(bytes: ReadableBytes): string {
  return (bytes as unknown as Base64Bytes).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64URL_ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Throws unless `text` is strict base64url: no padding, no other alphabet,
 * canonical trailing bits.
 */
function checkBase64url(text: string): void {
  if (!BASE64URL.test(text) || text.length % 4 === 1) {
    throw new TypeError("not base64url");
  }
  // Canonical: the bits the last character carries beyond the last byte are
  // zero (2 of them after 3 characters of a group, 4 after 2).
  const rest = text.length % 4;
  if (rest !== 0) {
    const last = BASE64URL_ALPHABET.indexOf(text[text.length - 1]!);
    if ((last & (rest === 2 ? 0x0f : 0x03)) !== 0) {
      throw new TypeError("non-canonical base64url");
    }
  }
}

/** Strict base64url decoding: no padding, no other alphabet, canonical trailing bits. */
export function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  checkBase64url(text);
  return (Uint8Array as unknown as Base64Constructor).fromBase64(text, {
    alphabet: "base64url",
    lastChunkHandling: "loose",
  });
}

// Scratch bytes for the per-request JWS path. A fresh ArrayBuffer costs more
// than the encoding itself here (TextEncoder 1.9 µs against 0.3 µs for a view
// into node:buffer's shared 8 KB pool, for a 370-character signing input;
// fromBase64 3.4 µs against 1.0 µs for a JWS's three parts: bench/README.md).
// The pool is shared memory: next to a view's bytes lie other requests'
// tokens and assertions. So a scratch view is typed ReadableBytes, without
// `buffer`, and nothing may cast it back; it is read at once and never kept
// (a kept view pins its pool chunk); key material never goes into it.

/** `utf8(text)` as a scratch view: read it now, keep nothing, no key material. */
export function utf8Scratch(text: string): ReadableBytes {
  return plainView(Buffer.from(text, "utf8"));
}

/** `fromBase64url(text)`, as strict, as a scratch view: read it now, keep nothing, no key material. */
export function fromBase64urlScratch(text: string): ReadableBytes {
  checkBase64url(text);
  return plainView(Buffer.from(text, "base64url"));
}

/**
 * The bytes of a Buffer (node:buffer's, node:crypto's answers) as a plain
 * Uint8Array view, not a copy: a Buffer's slice() is a view, a Uint8Array's
 * a copy, so callers must not get one for the other.
 */
export function plainView(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function sha256(
  data: Uint8Array<ArrayBuffer> | string,
): Promise<Uint8Array<ArrayBuffer>> {
  const bytes = typeof data === "string" ? utf8(data) : data;
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** 32 random bytes as base64url: nonces, challenges, ids. */
export function randomToken(byteLength = 32): string {
  return base64url(crypto.getRandomValues(new Uint8Array(byteLength)));
}

/** Constant-time comparison of two strings of equal length. */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
