/**
 * The exit code of an error, in-process: the CLI's own errors keep their
 * documented codes; an error answered by a server keeps its code only when
 * issuers send it (docs/api.md), else it is ERR_ISSUER_RESPONSE, exit 4. The
 * server is a `fetch` answering one refusal.
 */
import assert from "node:assert/strict";
import { reportError } from "../../main.ts";
import {
  Auth4AgentError,
  EXIT,
  isErrorCode,
  sentByIssuers,
} from "../../src/core/errors.ts";
import { runCli } from "../helpers/in_process.ts";

const DID = `did:agent:example.com:${"ab".repeat(16)}`;

/** Runs `did show DID` against a server that refuses with `code`; returns the exit code and stderr. */
async function refusedWith(
  code: string,
  options: { json?: boolean } = {},
): Promise<{ exit: number; stderr: string }> {
  const args = ["--home", "/nonexistent", "did", "show", DID];
  args.push("--server", "https://issuer.test");
  if (options.json) args.push("--json");
  return await runCli(args, {
    fetch: () =>
      Promise.resolve(
        Response.json({
          error: "invalid_request",
          error_description: "refused\u001b[2K",
          error_code: code,
        }, { status: 400 }),
      ),
  });
}

function report(error: unknown, debug = false) {
  let stderr = "";
  const io = {
    stdout: () => {},
    stderr: (text: string) => void (stderr += text),
    env: () => undefined,
    now: () => new Date(),
    fetch,
  };
  const exit = reportError(error, { io, json: false, debug });
  return { exit, stderr };
}

Deno.test("the codes issuers send are those docs/api.md does not mark _client_", async () => {
  const api = await Deno.readTextFile(
    new URL("../../docs/api.md", import.meta.url),
  );
  const table = api.slice(api.indexOf("### Error codes"));
  const rows = [...table.matchAll(/^\| `(ERR_[A-Z_]+)` +\|(.*)$/gm)];
  assert.ok(rows.length > 40, "the error code table");
  for (const [, code, rest] of rows) {
    assert.ok(isErrorCode(code!), code);
    // The mark opens the meaning column ("_client_: …", "_client_ (…)"); an
    // OAuth error such as `invalid_client_attestation` merely holds the word.
    assert.equal(sentByIssuers(code), !/\| _client_[: ]/.test(rest!), code);
  }
});

Deno.test("a server's code counts only when issuers send it", async () => {
  for (
    const [code, exit, shown] of [
      ["ERR_FORBIDDEN", EXIT.failed, "ERR_FORBIDDEN"],
      ["ERR_INVALID_SCOPE_SYNTAX", EXIT.usage, "ERR_INVALID_SCOPE_SYNTAX"],
      ["ERR_USAGE", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
      ["ERR_HOME_INVALID", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
      ["ERR_AUDIT_BROKEN", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
      ["ERR_ISSUER_RESPONSE", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
      ["ERR_UNHEARD_OF", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
      ["__proto__", EXIT.unavailable, "ERR_ISSUER_RESPONSE"],
    ] as const
  ) {
    const human = await refusedWith(code);
    assert.equal(human.exit, exit, `${code}: ${human.stderr}`);
    assert.ok(human.stderr.endsWith(`\\u001b[2K (${shown})\n`), human.stderr);
    const data = await refusedWith(code, { json: true });
    assert.equal(data.exit, exit, code);
    const { error } = JSON.parse(data.stderr);
    assert.equal(error.code, shown, code);
    assert.ok(error.message.endsWith("refused\u001b[2K"), error.message);
  }
});

Deno.test("the CLI's own errors keep their documented exit codes", () => {
  for (
    const [code, exit] of [
      ["ERR_USAGE", EXIT.usage],
      ["ERR_HOME_MISSING", EXIT.missingState],
      ["ERR_KEY_PERMISSIONS", EXIT.failed],
      ["ERR_ISSUER_UNREACHABLE", EXIT.unavailable],
      ["ERR_CONFIG", EXIT.usage],
    ] as const
  ) {
    const { exit: got, stderr } = report(new Auth4AgentError(code, "no"));
    assert.equal(got, exit, code);
    assert.equal(stderr, `error: no (${code})\n`);
  }
});

Deno.test("an internal error's message and stack are escaped, a frame a line", () => {
  const error = new Error("boom\n\u001b[2Kfake line");
  const { exit, stderr } = report(error);
  assert.equal(exit, EXIT.internal);
  assert.ok(
    stderr.startsWith(
      "error: internal error: boom\\u000a\\u001b[2Kfake line (ERR_INTERNAL)\nError: boom\\u000a\\u001b[2Kfake line\n    at ",
    ),
    stderr,
  );
  assert.deepEqual(
    [...stderr].filter((char) => char !== "\n" && /\p{Cc}/u.test(char)),
    [],
  );
});
