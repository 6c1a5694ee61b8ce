import assert from "node:assert/strict";
import {
  Auth4AgentError,
  errorInfo,
  EXIT,
  fail,
  isErrorCode,
} from "../../src/core/errors.ts";
import { code } from "./_helpers.ts";

Deno.test("Auth4AgentError carries its code, cause and headers", () => {
  const cause = new Error("inner");
  const error = new Auth4AgentError("ERR_RATE_LIMITED", "slow down", {
    cause,
    headers: { "Retry-After": "1" },
  });
  assert.ok(error instanceof Error);
  assert.equal(error.name, "Auth4AgentError");
  assert.equal(error.code, "ERR_RATE_LIMITED");
  assert.equal(error.cause, cause);
  assert.deepEqual(error.headers, { "Retry-After": "1" });
  assert.deepEqual(new Auth4AgentError("ERR_INTERNAL", "x").headers, {});
});

Deno.test("error codes map to OAuth errors, HTTP statuses and exit codes", () => {
  const table = [
    ["ERR_INVALID_REQUEST", "invalid_request", 400, EXIT.usage],
    ["ERR_INVALID_CLIENT", "invalid_client", 401, EXIT.failed],
    ["ERR_BAD_SIGNATURE", "invalid_client", 401, EXIT.failed],
    ["ERR_ASSERTION_INVALID", "invalid_client", 401, EXIT.failed],
    ["ERR_SCOPE_NOT_GRANTED", "invalid_scope", 400, EXIT.failed],
    ["ERR_INVALID_SCOPE_SYNTAX", "invalid_scope", 400, EXIT.usage],
    ["ERR_UNSUPPORTED_GRANT_TYPE", "unsupported_grant_type", 400, EXIT.failed],
    ["ERR_TOKEN_EXPIRED", "invalid_token", 401, EXIT.failed],
    ["ERR_TOKEN_SCOPE", "insufficient_scope", 403, EXIT.failed],
    ["ERR_RATE_LIMITED", "temporarily_unavailable", 429, EXIT.failed],
    ["ERR_DNS_LOOKUP_FAILED", "temporarily_unavailable", 503, EXIT.unavailable],
    ["ERR_HOME_MISSING", "invalid_request", 400, EXIT.missingState],
    ["ERR_INTERNAL", "server_error", 500, EXIT.internal],
  ] as const;
  for (const [name, oauth, status, exit] of table) {
    const error = new Auth4AgentError(name, "m");
    assert.deepEqual(
      [error.oauthError, error.status, error.exitCode],
      [oauth, status, exit],
      name,
    );
    const { client: _client, ...info } = errorInfo(name);
    assert.deepEqual(info, { oauth, status, exit });
  }
});

Deno.test("isErrorCode knows only the table's own codes", () => {
  assert.equal(isErrorCode("ERR_TOKEN_INVALID"), true);
  for (
    const name of ["", "toString", "constructor", "__proto__", "err_internal"]
  ) {
    assert.equal(isErrorCode(name), false, name);
  }
});

Deno.test("fail throws an Auth4AgentError with the given code", () => {
  assert.throws(
    () => fail("ERR_NOT_FOUND", "nothing here"),
    code("ERR_NOT_FOUND"),
  );
});
