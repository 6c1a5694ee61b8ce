/**
 * Whoever can write into the home folder decides which tokens offline
 * `verify` accepts (cache/jwks.json) and which key the CLI signs with: a
 * home, keys/ or cache/ folder that group or others may write to, or that
 * another user owns, is refused (ERR_KEY_PERMISSIONS); a cache file that is
 * not the user's own regular file with mode 0600 is ignored and refetched.
 * The CLI changes the mode only of folders it made; keys/ and cache/ may not
 * be links.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../src/core/keys.ts";
import { fakeIssuer, ISSUER, run, withTempDir } from "./_home_cli.ts";
import { currentUid } from "../../src/home/files.ts";

const ROOT = (await currentUid()) === 0;
/** Someone else: as root, files can be given to another user. */
const OTHER_UID = 65534;

/** A home with a cache file planted by an attacker, and a token that cache makes valid. */
async function plantedCache(home: string): Promise<string> {
  const forged = await generateKeyPair();
  await Deno.mkdir(`${home}/cache`, { recursive: true, mode: 0o700 });
  await Deno.writeTextFile(
    `${home}/cache/jwks.json`,
    JSON.stringify({
      [ISSUER]: {
        issuer: ISSUER,
        keys: [{ ...forged.publicJwk, kid: "forged" }],
        fetched_at: new Date().toISOString(),
      },
    }),
    { mode: 0o600 },
  );
  return await (await fakeIssuer()).token("forged", forged);
}

async function verify(home: string, token: string) {
  const issuer = await fakeIssuer();
  return await run(
    ["--home", home, "verify", "--token", token, "--server", ISSUER],
    issuer,
  );
}

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

Deno.test("verify: the user's own cache file, mode 0600, is used (the control)", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    const token = await plantedCache(home);
    assert.equal((await verify(home, token)).exit, 0);
  });
});

for (
  const [folder, path] of [["home", ""], ["cache/", "/cache"]] as const
) {
  Deno.test(`verify: a ${folder} folder others can write to is refused (ERR_KEY_PERMISSIONS)`, async () => {
    await withTempDir(async (dir) => {
      const home = `${dir}/home`;
      const token = await plantedCache(home);
      await Deno.chmod(home + path, 0o777);
      const result = await verify(home, token);
      assert.equal(result.code, "ERR_KEY_PERMISSIONS", result.stderr);
      assert.equal(result.exit, 1);
      assert.match(result.stderr, /chmod 700/);
    });
  });
}

Deno.test("verify: a cache file others can read, or a link, is ignored and refetched: the forged token fails", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    const token = await plantedCache(home);
    await Deno.chmod(`${home}/cache/jwks.json`, 0o644);
    const loose = await verify(home, token);
    assert.equal(loose.code, "ERR_TOKEN_INVALID", loose.stderr);
    // Refetched and written back as the user's own, 0600.
    assert.equal(mode(`${home}/cache/jwks.json`), 0o600);

    const other = `${dir}/other`;
    const token2 = await plantedCache(other);
    await Deno.remove(`${home}/cache/jwks.json`);
    await Deno.symlink(`${other}/cache/jwks.json`, `${home}/cache/jwks.json`);
    const linked = await verify(home, token2);
    assert.equal(linked.code, "ERR_TOKEN_INVALID", linked.stderr);
  });
});

Deno.test({
  name:
    "verify: a cache file, cache/ or home owned by another user is not trusted",
  ignore: !ROOT,
  fn: async () => {
    await withTempDir(async (dir) => {
      const home = `${dir}/home`;
      const token = await plantedCache(home);
      await Deno.chown(`${home}/cache/jwks.json`, OTHER_UID, OTHER_UID);
      const file = await verify(home, token);
      assert.equal(file.code, "ERR_TOKEN_INVALID", file.stderr);

      const token2 = await plantedCache(`${dir}/h2`);
      await Deno.chown(`${dir}/h2/cache`, OTHER_UID, OTHER_UID);
      const folder = await verify(`${dir}/h2`, token2);
      assert.equal(folder.code, "ERR_KEY_PERMISSIONS", folder.stderr);

      const token3 = await plantedCache(`${dir}/h3`);
      await Deno.chown(`${dir}/h3`, OTHER_UID, OTHER_UID);
      const owner = await verify(`${dir}/h3`, token3);
      assert.equal(owner.code, "ERR_KEY_PERMISSIONS", owner.stderr);
    });
  },
});

const INIT = ["init", "--domain", "example.com", "--server", ISSUER];

Deno.test("init: an existing home folder keeps its mode; one others can write to is refused, not changed", async () => {
  await withTempDir(async (dir) => {
    const shared = `${dir}/shared`;
    await Deno.mkdir(shared);
    await Deno.chmod(shared, 0o755);
    const made = await run(["--home", shared, ...INIT]);
    assert.equal(made.exit, 0, made.stderr);
    assert.equal(mode(shared), 0o755);
    assert.equal(mode(`${shared}/keys`), 0o700);

    const open = `${dir}/open`;
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o1777);
    const refused = await run(["--home", open, ...INIT]);
    assert.equal(refused.code, "ERR_KEY_PERMISSIONS", refused.stderr);
    assert.equal(Deno.statSync(open).mode! & 0o7777, 0o1777);
    assert.deepEqual([...Deno.readDirSync(open)], []);
  });
});

Deno.test("init: a home folder it makes is 0700, parents included", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/a/b/home`;
    const made = await run(["--home", home, ...INIT]);
    assert.equal(made.exit, 0, made.stderr);
    assert.equal(mode(home), 0o700);
    assert.equal(mode(`${home}/keys`), 0o700);
  });
});

Deno.test("init: a keys/ that is a link is refused; nothing is written through it", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    const elsewhere = `${dir}/elsewhere`;
    await Deno.mkdir(home, { mode: 0o700 });
    await Deno.mkdir(elsewhere);
    await Deno.chmod(elsewhere, 0o755);
    await Deno.symlink(elsewhere, `${home}/keys`);
    const result = await run(["--home", home, ...INIT]);
    assert.equal(result.code, "ERR_HOME_INVALID", result.stderr);
    assert.deepEqual([...Deno.readDirSync(elsewhere)], []);
    assert.equal(mode(elsewhere), 0o755);
  });
});

Deno.test("whoami: a keys/ folder others can write to is refused before a key is read", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    assert.equal((await run(["--home", home, ...INIT])).exit, 0);
    await Deno.chmod(`${home}/keys`, 0o777);
    const result = await run(["--home", home, "whoami"]);
    assert.equal(result.code, "ERR_KEY_PERMISSIONS", result.stderr);
  });
});
