/**
 * The home folder's owner checks fail closed: when the CLI cannot tell which
 * user it runs as (no --allow-sys=uid and no writable temporary folder), it
 * refuses with ERR_KEY_PERMISSIONS instead of trusting files of any owner;
 * with --allow-sys=uid (the tasks and the binary) it needs no temporary file.
 */
import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const BASE = ["--allow-net", "--allow-read", "--allow-write", "--allow-env"];

async function cli(permissions: string[], args: string[], tmpdir: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", ...permissions, "--config", CONFIG, MAIN, ...args],
    env: { TMPDIR: tmpdir, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("home owner: unknown user is ERR_KEY_PERMISSIONS, never trust; --allow-sys=uid tells it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-owner-" });
  try {
    const home = `${dir}/home`;
    const args = ["--home", home, "whoami", "--json"];
    const init = await cli(BASE, [
      "--home",
      home,
      "init",
      "--domain",
      "example.com",
      "--server",
      "http://localhost:1",
    ], dir);
    assert.equal(init.code, 0, init.stderr);
    const unknown = await cli(BASE, args, `${dir}/no-such-tmp`);
    assert.equal(unknown.code, 1, unknown.stderr);
    assert.equal(JSON.parse(unknown.stderr).error.code, "ERR_KEY_PERMISSIONS");
    const told = await cli(
      [...BASE, "--allow-sys=uid"],
      args,
      `${dir}/no-such-tmp`,
    );
    assert.equal(told.code, 0, told.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
