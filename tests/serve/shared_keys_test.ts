/**
 * Instances sharing one database: a signing key made by one (a rotation, or a
 * first start racing another) is found by the others as soon as a token
 * names it, without waiting for the periodic reload.
 */
import assert from "node:assert/strict";
import { rotateSigningKey } from "../../src/serve/signing_keys.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  asCaller,
  createFixture,
  introspect,
  issueToken,
  setup,
  withTempDir,
} from "./helpers.ts";

Deno.test("shared database: a token signed with a key another instance just made introspects active", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/issuer.db`;
    const dns = new Map<string, string[][]>();
    const a = await createFixture({ store: new SqliteStore(path), dns });
    const b = await createFixture({
      store: new SqliteStore(path),
      dns,
      clock: a.clock,
    });
    try {
      const { agent } = await setup(a);
      const newKid = await rotateSigningKey(b.store, b.clock.now());
      await b.keys.reload(b.clock.now());
      assert.equal(b.keys.signingKey(b.clock.now()).kid, newKid);
      assert.notEqual(
        a.keys.signingKey(a.clock.now()).kid,
        newKid,
        "instance a has not reloaded yet",
      );
      const token = await issueToken(b, agent);
      const response = await introspect(a, token, asCaller(agent));
      assert.equal((await response.json()).active, true);
    } finally {
      await b.close();
      await a.close();
    }
  });
});
