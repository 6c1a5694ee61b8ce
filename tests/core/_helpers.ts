/** Small helpers shared by the core tests: a fixed clock and error-code checks. */
import assert from "node:assert/strict";
import * as jose from "jose";
import { base64url, utf8 } from "../../src/core/encoding.ts";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";

/** The fixed "now" of every core test. */
export const NOW = new Date("2026-03-01T12:00:00Z");
export const NOW_S = NOW.getTime() / 1000;

/** `NOW` moved by `seconds`. */
export function at(seconds: number): Date {
  return new Date((NOW_S + seconds) * 1000);
}

/**
 * Validator for `assert.throws` / `assert.rejects`: the error must be an
 * Auth4AgentError carrying `expected` as its code.
 */
export function code(expected: ErrorCode): (error: unknown) => true {
  return (error) => {
    assert.ok(
      error instanceof Auth4AgentError,
      `expected Auth4AgentError ${expected}, got ${error}`,
    );
    assert.equal(error.code, expected);
    return true;
  };
}

/** base64url of the JSON text of `value`: one part of a compact JWS. */
export function jsonPart(value: unknown): string {
  return base64url(utf8(JSON.stringify(value)));
}

/** Signs `payload` with any protected header, bypassing our own builders. */
export async function signJwt(
  payload: Record<string, unknown>,
  header: jose.JWTHeaderParameters,
  privateKey: CryptoKey,
): Promise<string> {
  return await new jose.SignJWT(payload).setProtectedHeader(header).sign(
    privateKey,
  );
}
