/**
 * Domain-control validation by DNS TXT record, shaped like ACME DNS-01 (RFC
 * 8555 §8.4) and the IETF domain-control-validation practice: the record
 * `_auth4agent-challenge.<domain>` carries `token=<base64url(SHA-256(challenge
 * "." thumbprint))>`, so it proves control of the domain and binds the
 * operator's key (by its RFC 7638 thumbprint).
 */
import { base64url, sha256 } from "./encoding.ts";
import type { ErrorCode } from "./errors.ts";

export const DNS_RECORD_PREFIX = "_auth4agent-challenge";
/** A TXT answer with more records than this is refused, not compared. */
export const MAX_TXT_RECORDS = 32;
/** A record longer than this (joined) never matches. */
export const MAX_TXT_LENGTH = 1024;

export function dnsRecordName(domain: string): string {
  return `${DNS_RECORD_PREFIX}.${domain}`;
}

export async function dnsRecordValue(
  challenge: string,
  operatorThumbprint: string,
): Promise<string> {
  return "token=" +
    base64url(await sha256(`${challenge}.${operatorThumbprint}`));
}

/**
 * True when one of the TXT records (every one of them) equals the expected
 * value. A record split into several character-strings is joined first (RFC
 * 7208 §3.3); surrounding whitespace is ignored.
 */
export function txtRecordsContain(
  records: readonly (readonly string[])[],
  expected: string,
): boolean {
  return records.some((chunks) => {
    const joined = chunks.join("");
    return joined.length <= MAX_TXT_LENGTH && joined.trim() === expected;
  });
}

export interface TxtRefusal {
  code: ErrorCode;
  message: string;
}

/**
 * Why the TXT answer at `name` does not prove the domain, or undefined when
 * it does: no record, more than MAX_TXT_RECORDS (refused whatever they hold),
 * or none equal to `expected`.
 */
export function txtAnswerRefusal(
  name: string,
  records: readonly (readonly string[])[],
  expected: string,
): TxtRefusal | undefined {
  if (records.length === 0) {
    return {
      code: "ERR_DNS_RECORD_MISSING",
      message: `no TXT record found at ${name}`,
    };
  }
  if (records.length > MAX_TXT_RECORDS) {
    return {
      code: "ERR_DNS_RECORD_MISMATCH",
      message: `${name} has ${records.length} TXT records, more than the ` +
        `${MAX_TXT_RECORDS} compared: remove the stale ones`,
    };
  }
  if (!txtRecordsContain(records, expected)) {
    return {
      code: "ERR_DNS_RECORD_MISMATCH",
      message: `the TXT records at ${name} do not contain ${expected}`,
    };
  }
  return undefined;
}
