/** OAuth scopes (RFC 6749 §3.3): parsing, formatting and the deny-by-default check. */
import { fail } from "./errors.ts";

/** scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
export const MAX_SCOPES = 64;
export const MAX_SCOPE_LENGTH = 128;

function checkTokens(tokens: string[], input: string): string[] {
  const unique = [...new Set(tokens)];
  if (unique.length > MAX_SCOPES) {
    fail(
      "ERR_INVALID_SCOPE_SYNTAX",
      `at most ${MAX_SCOPES} scopes are allowed`,
    );
  }
  for (const token of unique) {
    if (token.length > MAX_SCOPE_LENGTH || !SCOPE_TOKEN.test(token)) {
      fail(
        "ERR_INVALID_SCOPE_SYNTAX",
        `invalid scope ${JSON.stringify(token)} in ${JSON.stringify(input)} ` +
          `(printable ASCII without spaces, quotes or backslashes, at most ${MAX_SCOPE_LENGTH} characters)`,
      );
    }
  }
  return unique;
}

/** The wire form: scope tokens separated by single spaces (RFC 6749 §3.3). */
export function parseScopeParam(input: string): string[] {
  if (input === "") return [];
  return checkTokens(input.split(" "), input);
}

/** The CLI form: space- and/or comma-separated, e.g. `read:a,write:b` or `"read:a write:b"`. */
export function parseScopeList(inputs: string | string[]): string[] {
  const joined = (Array.isArray(inputs) ? inputs : [inputs]).join(" ");
  const tokens = joined.split(/[\s,]+/).filter((t) => t !== "");
  return checkTokens(tokens, joined);
}

export function formatScope(scopes: readonly string[]): string {
  return scopes.join(" ");
}

/**
 * Deny by default: every requested scope must be granted. Anything else is an
 * error naming what was refused, never a silently smaller token.
 */
export function authorizeScopes(
  requested: readonly string[],
  granted: readonly string[],
): string[] {
  const allowed = new Set(granted);
  const refused = requested.filter((scope) => !allowed.has(scope));
  if (refused.length > 0) {
    fail(
      "ERR_SCOPE_NOT_GRANTED",
      `scope ${
        refused.map((s) => JSON.stringify(s)).join(", ")
      } is not granted to this agent`,
    );
  }
  return [...requested];
}
