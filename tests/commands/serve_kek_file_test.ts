/**
 * The key-encryption key file of `serve` and `serve keys`: a folder (or
 * anything but a small regular file) is ERR_CONFIG naming it, not an
 * internal error; an empty AUTH4AGENT_KEK_FILE or AUTH4AGENT_KEK is ERR_CONFIG
 * rather than "no key-encryption key" (a typo must not turn encryption off).
 * Each fails before the database is touched.
 */
import assert from "node:assert/strict";
import { run, withTempDir } from "../home/_home_cli.ts";

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

Deno.test("serve keys rotate: a key-encryption key file that is a folder is ERR_CONFIG naming it", async () => {
  await withTempDir(async (dir) => {
    const kek = `${dir}/kek`;
    await Deno.mkdir(kek, { mode: 0o700 });
    const result = await run([
      "--home",
      `${dir}/home`,
      "serve",
      "keys",
      "rotate",
      "--db",
      `${dir}/a.db`,
      "--key-encryption-key-file",
      kek,
    ]);
    assert.equal(result.code, "ERR_CONFIG", result.stderr);
    assert.equal(result.exit, 2);
    assert.ok(result.stderr.includes(kek), result.stderr);
    assert.equal(await exists(`${dir}/a.db`), false);
  });
});

for (const name of ["AUTH4AGENT_KEK_FILE", "AUTH4AGENT_KEK"]) {
  Deno.test(`serve keys rotate: an empty ${name} is ERR_CONFIG, not "no key-encryption key"`, async () => {
    await withTempDir(async (dir) => {
      const result = await run(
        [
          "--home",
          `${dir}/home`,
          "serve",
          "keys",
          "rotate",
          "--db",
          `${dir}/a.db`,
        ],
        { env: { [name]: "" } },
      );
      assert.equal(result.code, "ERR_CONFIG", result.stderr);
      assert.equal(result.exit, 2);
      assert.ok(result.stderr.includes(name), result.stderr);
      assert.equal(await exists(`${dir}/a.db`), false);
    });
  });
}
