/**
 * Domain-control validation by DNS TXT record, shaped like ACME DNS-01 (RFC
 * 8555 §8.4) and the IETF domain-control-validation practice: the record
 * `_auth4agent-challenge.<domain>` carries `token=<base64url(SHA-256(challenge
 * "." thumbprint))>`, so it proves control of the domain and binds the
 * operator's key (by its RFC 7638 thumbprint).
 */
import { base64url, sha256 } from "./encoding.ts";

export const DNS_RECORD_PREFIX = "_auth4agent-challenge";
/** A TXT answer bigger than this is refused rather than compared. */
export const MAX_TXT_RECORDS = 32;
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
 * True when one of the TXT records equals the expected value. A record split
 * into several character-strings is joined first (RFC 7208 §3.3); surrounding
 * whitespace is ignored.
 */
export function txtRecordsContain(
  records: readonly (readonly string[])[],
  expected: string,
): boolean {
  return records.slice(0, MAX_TXT_RECORDS).some((chunks) => {
    const joined = chunks.join("");
    return joined.length <= MAX_TXT_LENGTH && joined.trim() === expected;
  });
}
