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
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) {
    fail(
      "ERR_INVALID_DOMAIN",
      `${JSON.stringify(input)} looks like an IP address, not a domain`,
    );
  }
  return name;
}
