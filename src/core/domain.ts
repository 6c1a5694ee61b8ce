/** DNS domain names of operators: validated and normalized at every boundary. */
import { fail } from "./errors.ts";

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Returns the canonical form of a domain name (lowercase, no trailing dot),
 * or throws ERR_INVALID_DOMAIN. Internationalized names must be given in
 * their A-label (punycode, `xn--`) form; IP addresses are refused.
 */
export function parseDomain(input: string): string {
  if (typeof input !== "string" || input.length === 0) {
    fail("ERR_INVALID_DOMAIN", "domain is empty");
  }
  // Before lowercasing: "\u212A" (KELVIN SIGN) would become an ASCII "k".
  if (/[\u0080-\uffff]/.test(input)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain ${JSON.stringify(input)} is not ASCII (give IDNs in xn-- form)`,
    );
  }
  const name = input.toLowerCase().replace(/\.$/, "");
  if (name.length > 253) {
    fail("ERR_INVALID_DOMAIN", `domain is longer than 253 characters`);
  }
  const labels = name.split(".");
  if (labels.length < 2) {
    fail(
      "ERR_INVALID_DOMAIN",
      `domain ${
        JSON.stringify(input)
      } needs at least two labels (e.g. example.com)`,
    );
  }
  for (const label of labels) {
    if (!LABEL.test(label)) {
      fail(
        "ERR_INVALID_DOMAIN",
        `domain ${JSON.stringify(input)} has an invalid label ${
          JSON.stringify(label)
        } ` +
          "(letters, digits and inner hyphens, 1-63 characters; IDNs in xn-- form)",
      );
    }
  }
  // A numeric last label (decimal, or 0x hex as URL parsers read it) makes an IPv4 address.
  if (/^(?:[0-9]+|0x[0-9a-f]*)$/.test(labels[labels.length - 1]!)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `${JSON.stringify(input)} looks like an IP address, not a domain`,
    );
  }
  return name;
}
