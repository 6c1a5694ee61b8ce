/** The home folder's key rotation steps: stage, read, promote, discard, and the home's lock. */
import assert from "node:assert/strict";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { Home } from "../../src/home/home.ts";

async function withHome(body: (home: Home) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-home-test-" });
  try {
    await body(new Home(`${dir}/home`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function hasCode(code: ErrorCode) {
  return (error: unknown) => {
    assert.ok(error instanceof Auth4AgentError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

Deno.test("Home: a staged key is never overwritten", async () => {
  await withHome(async (home) => {
    const first = await generateKeyPair();
    await home.stageKey("agent", first.pem);
    await assert.rejects(
      home.stageKey("agent", (await generateKeyPair()).pem),
      hasCode("ERR_HOME_EXISTS"),
    );
    assert.equal(
      await Deno.readTextFile(home.stagedKeyPath("agent")),
      first.pem,
    );
  });
});

Deno.test("Home: readStagedKey returns the staged key, nothing when none, and refuses one others can read", async () => {
  await withHome(async (home) => {
    assert.equal(await home.readStagedKey("agent"), undefined);
    const staged = await generateKeyPair();
    await home.stageKey("agent", staged.pem);
    assert.equal(
      (await home.readStagedKey("agent"))?.publicJwk.x,
      staged.publicJwk.x,
    );
    await Deno.chmod(home.stagedKeyPath("agent"), 0o644);
    await assert.rejects(
      home.readStagedKey("agent"),
      hasCode("ERR_KEY_PERMISSIONS"),
    );
  });
});

Deno.test("Home: promoting moves the staged key over the key; discarding deletes it", async () => {
  await withHome(async (home) => {
    await assert.rejects(home.readKey("agent"), hasCode("ERR_HOME_MISSING"));
    await home.writeKey("agent", (await generateKeyPair()).pem, false);
    const next = await generateKeyPair();
    await home.stageKey("agent", next.pem);
    await home.promoteStagedKey("agent");
    assert.equal(
      (await home.readKey("agent")).publicJwk.x,
      next.publicJwk.x,
    );
    assert.equal((await Deno.stat(home.keyPath("agent"))).mode! & 0o777, 0o600);
    assert.equal(await home.readStagedKey("agent"), undefined);

    await home.stageKey("agent", (await generateKeyPair()).pem);
    await home.discardStagedKey("agent");
    assert.equal(await home.readStagedKey("agent"), undefined);
    assert.equal((await home.readKey("agent")).publicJwk.x, next.publicJwk.x);
  });
});

Deno.test("Home: withLock lets one holder in at a time", async () => {
  await withHome(async (home) => {
    const events: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => release = resolve);
    let entered!: () => void;
    const firstIn = new Promise<void>((resolve) => entered = resolve);
    const first = home.withLock(async () => {
      events.push("first in");
      entered();
      await held;
      events.push("first out");
    }, { create: true });
    await firstIn;
    const second = home.withLock(() => {
      events.push("second in");
      return Promise.resolve();
    }, { create: true });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(events, ["first in"]);
    release();
    await Promise.all([first, second]);
    assert.deepEqual(events, ["first in", "first out", "second in"]);
  });
});
