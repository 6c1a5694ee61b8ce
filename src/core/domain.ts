/** DNS domain names of operators: validated and normalized at every boundary. */
import { DNS_RECORD_PREFIX } from "./dns_challenge.ts";
import { fail } from "./errors.ts";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The longest domain whose challenge record `_auth4agent-challenge.<domain>`
 * still fits DNS's 253-character limit on a name: 231 characters.
 */
export const MAX_DOMAIN_LENGTH = 253 - (DNS_RECORD_PREFIX.length + 1);

/**
 * Returns the canonical form of a domain name (lowercase, no trailing dot),
 * or throws ERR_INVALID_DOMAIN. Internationalized names must be given in
 * their A-label (punycode, `xn--`) form; IP addresses are refused.
 */
export function parseDomain(input: string): string {
  if (typeof input !== "string" || input.length === 0) {
    fail("ERR_INVALID_DOMAIN", "domain is empty");
  }
  // First, so a huge input costs nothing more.
  if (input.length > MAX_DOMAIN_LENGTH + (input.endsWith(".") ? 1 : 0)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain is longer than ${MAX_DOMAIN_LENGTH} characters (its record ` +
        `${DNS_RECORD_PREFIX}.<domain> must fit DNS's 253)`,
    );
  }
  // Before lowercasing: "\u212A" (KELVIN SIGN) would become an ASCII "k".
  if (/[\u0080-\uffff]/.test(input)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain ${quote(input)} is not ASCII (give IDNs in xn-- form)`,
    );
  }
  const name = input.toLowerCase().replace(/\.$/, "");
  const labels = name.split(".");
  if (labels.length < 2) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain ${quote(input)} needs at least two labels (e.g. example.com)`,
    );
  }
  for (const label of labels) {
    if (!LABEL.test(label)) {
      fail(
        "ERR_INVALID_DOMAIN",
        `domain ${quote(input)} has an invalid label ${quote(label)} ` +
          "(letters, digits and inner hyphens, 1-63 characters; IDNs in xn-- form)",
      );
    }
  }
  // A numeric last label (decimal, or 0x hex as URL parsers read it) makes an IPv4 address.
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `${quote(input)} looks like an IP address, not a domain`,
    );
  }
  if (labels.some((label) => label.startsWith("xn--"))) {
    requireValidALabels(name, input);
  }
  return name;
}

/** JSON-quoted, with every character outside printable ASCII escaped (controls, bidi overrides). */
function quote(text: string): string {
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/**
 * An `xn--` label must be real punycode of a valid IDN (`xn--zz` is not).
 * The WHATWG URL host parser does that check (UTS #46), and changes or
 * refuses a name with a bad A-label; only run when some label needs it.
 */
function requireValidALabels(name: string, input: string): void {
  let host: string | undefined;
  try {
    host = new URL(`http://${name}/`).hostname;
  } catch {
    // refused below
  }
  if (host !== name) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain ${quote(input)} has an xn-- label that is not a valid ` +
        "IDN A-label (punycode)",
    );
  }
}
