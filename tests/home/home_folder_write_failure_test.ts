/**
 * A write into the home folder that fails leaves no temporary file and no
 * half of anything: a JWKS cache that cannot be written costs `verify`
 * nothing; `init` on a full disk fails with ERR_HOME_INVALID, leaves neither
 * key nor identity file, and a rerun with room completes it.
 */
import assert from "node:assert/strict";
import { fakeIssuer, ISSUER, run, withTempDir } from "./_home_cli.ts";
import { currentUid } from "../../src/home/files.ts";

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
}

Deno.test("verify: a valid token passes when the cache cannot be written (cache/jwks.json a folder); no temporary file is left", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    await Deno.mkdir(`${home}/cache/jwks.json`, {
      recursive: true,
      mode: 0o700,
    });
    const issuer = await fakeIssuer();
    const result = await run(
      [
        "--home",
        home,
        "verify",
        "--token",
        await issuer.token(),
        "--server",
        ISSUER,
      ],
      issuer,
    );
    assert.equal(result.exit, 0, result.stderr);
    assert.deepEqual(names(`${home}/cache`), ["jwks.json"]);
  });
});

/** Mounts a tmpfs of `size` at `dir` for `body`; false when this system does not let the test mount. */
async function withTmpfs(
  dir: string,
  size: string,
  body: (remount: (size: string) => Promise<void>) => Promise<void>,
): Promise<boolean> {
  const mount = (...args: string[]) =>
    new Deno.Command("mount", { args, stdout: "null", stderr: "null" })
      .output().then((output) => output.success, () => false);
  if (!await mount("-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir)) {
    return false;
  }
  try {
    await body(async (bigger) => {
      assert.ok(await mount("-o", `remount,size=${bigger}`, dir), "remount");
    });
  } finally {
    await new Deno.Command("umount", { args: [dir] }).output();
  }
  return true;
}

Deno.test({
  name:
    "init: a full disk is ERR_HOME_INVALID, leaves no key, identity or temporary file, and a rerun with room completes",
  // Needs a tmpfs mount: root on Linux.
  ignore: Deno.build.os !== "linux" || (await currentUid()) !== 0,
  fn: async () => {
    await withTempDir(async (dir) => {
      const disk = `${dir}/disk`;
      await Deno.mkdir(disk);
      // One page: room for the key, none for agent.json.
      const mounted = await withTmpfs(disk, "4k", async (remount) => {
        const home = `${disk}/home`;
        const init = ["init", "--domain", "example.com", "--server", ISSUER];
        const full = await run(["--home", home, ...init]);
        assert.equal(full.code, "ERR_HOME_INVALID", full.stderr);
        assert.equal(full.exit, 3);
        assert.match(full.stderr, /space/i);
        assert.deepEqual(names(home), ["home.lock", "keys"]);
        assert.deepEqual(names(`${home}/keys`), []);

        await remount("64k");
        const again = await run(["--home", home, ...init]);
        assert.equal(again.exit, 0, again.stderr);
        assert.deepEqual(names(`${home}/keys`), ["agent.key"]);
      });
      if (!mounted) console.warn("skipped: cannot mount a tmpfs here");
    });
  },
});
