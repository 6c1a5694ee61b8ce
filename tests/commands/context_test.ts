/**
 * The CLI's output functions: human lines show control characters (C0, DEL,
 * C1) as `\u001b` text, one value a line; --json stays the same JSON value
 * with DEL and C1 escaped too; ordinary text is left as it is.
 */
import assert from "node:assert/strict";
import {
  CommandContext,
  jsonText,
  visible,
} from "../../src/commands/context.ts";

function context(json: boolean) {
  const out = { stdout: "", stderr: "" };
  const ctx = new CommandContext({
    stdout: (text) => void (out.stdout += text),
    stderr: (text) => void (out.stderr += text),
    env: () => undefined,
    now: () => new Date(),
    fetch: () => Promise.reject(new Error("no network in this test")),
  }, { json, home: "/nonexistent" });
  return { ctx, out };
}

const HOSTILE =
  "ok\u001b]0;pwned\u0007\u001b[2J\r\nvalid: x\u0000\u007f\u0085\u009b1m\t";

Deno.test("visible: every control character as \\u text, nothing else touched", () => {
  assert.equal(
    visible(HOSTILE),
    "ok\\u001b]0;pwned\\u0007\\u001b[2J\\u000d\\u000avalid: x\\u0000\\u007f\\u0085\\u009b1m\\u0009",
  );
  const ordinary =
    "1  2026-01-02T03:04:05.000Z  DENIED agent.revoke  op_x → did:agent:é.example — «ok» 日本 \u00a0 🔑";
  assert.equal(visible(ordinary), ordinary);
  // Format characters too: a bidi override, a zero-width space, a tag.
  assert.equal(
    visible("a\u202eb\u200bc\u{e0001}d"),
    "a\\u202eb\\u200bc\\u{e0001}d",
  );
});

Deno.test("print: human lines escaped one by one, joined by the CLI's own line breaks", () => {
  const { ctx, out } = context(false);
  ctx.print({}, ["first: a\nb", `second: ${HOSTILE}`, "", "  last"]);
  assert.equal(
    out.stdout,
    `first: a\\u000ab\nsecond: ${visible(HOSTILE)}\n\n  last\n`,
  );
  assert.equal(out.stdout.split("\n").length, 5);
  ctx.print({}, "one line\u001b[1A");
  assert.ok(out.stdout.endsWith("one line\\u001b[1A\n"));
});

Deno.test("note: a diagnostic is escaped like the lines; silent under --json", () => {
  const { ctx, out } = context(false);
  ctx.note("retrying\u001b[2K\nfake line");
  assert.equal(out.stderr, "retrying\\u001b[2K\\u000afake line\n");
  const quiet = context(true);
  quiet.ctx.note("anything");
  assert.equal(quiet.out.stderr, "");
});

Deno.test("print --json: the same value, with no raw control character", () => {
  const { ctx, out } = context(true);
  const data = { status: HOSTILE, [`key\u009b`]: ["\u007f", 1, null] };
  ctx.print(data, "ignored");
  assert.deepEqual(JSON.parse(out.stdout), data);
  const raw = [...out.stdout].filter((char) =>
    char !== "\n" && /\p{Cc}/u.test(char)
  );
  assert.deepEqual(raw, []);
  assert.match(out.stdout, /"key\\u009b"/);
  assert.equal(jsonText({ a: "é→" }), '{"a":"é→"}');
  assert.equal(jsonText([1], 2), JSON.stringify([1], null, 2));
});

Deno.test("homeFlag: a --home typed is repeated in Next: hints, quoted for the shell when it must be", () => {
  const io = {
    stdout: () => {},
    stderr: () => {},
    env: (name: string) => name === "HOME" ? "/home/me" : undefined,
    now: () => new Date(),
    fetch: () => Promise.reject(new Error("no network in this test")),
  };
  assert.equal(new CommandContext(io, {}).homeFlag, "");
  assert.equal(
    new CommandContext(io, { home: "./helper" }).homeFlag,
    " --home ./helper",
  );
  assert.equal(
    new CommandContext(io, { home: "my home's" }).homeFlag,
    ` --home 'my home'\\''s'`,
  );
});
