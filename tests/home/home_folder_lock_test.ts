/**
 * Commands that change the home's identity run one at a time (the home's
 * lock): of two concurrent `init`s without --force one fails, and the key
 * always matches the DID; a `register` and a `set-server` at once both keep
 * their change.
 */
import assert from "node:assert/strict";
import { didForKey } from "../../src/core/did.ts";
import { importPrivateKeyPem } from "../../src/core/keys.ts";
import {
  fakeIssuer,
  ISSUER,
  OPERATOR_ID,
  run,
  withTempDir,
} from "./_home_cli.ts";

const INIT = ["init", "--domain", "example.com", "--server", ISSUER];

Deno.test("init: of two concurrent runs without --force one makes the identity, the other fails ERR_HOME_EXISTS; the key matches the DID", async () => {
  await withTempDir(async (dir) => {
    for (let round = 0; round < 10; round++) {
      const home = `${dir}/h${round}`;
      const results = await Promise.all([
        run(["--home", home, ...INIT]),
        run(["--home", home, ...INIT]),
      ]);
      const exits = results.map((result) => result.exit).sort();
      assert.deepEqual(exits, [0, 1], JSON.stringify(results));
      assert.ok(results.some((result) => result.code === "ERR_HOME_EXISTS"));
      const agent = JSON.parse(await Deno.readTextFile(`${home}/agent.json`));
      const key = await importPrivateKeyPem(
        await Deno.readTextFile(`${home}/keys/agent.key`),
      );
      assert.equal(agent.did, await didForKey("example.com", key.publicJwk));
    }
  });
});

Deno.test("init --force and init at once: whatever wins, the key matches the DID", async () => {
  await withTempDir(async (dir) => {
    for (let round = 0; round < 5; round++) {
      const home = `${dir}/h${round}`;
      await Promise.all([
        run(["--home", home, ...INIT, "--force"]),
        run(["--home", home, ...INIT, "--force"]),
        run(["--home", home, ...INIT]),
      ]);
      const agent = JSON.parse(await Deno.readTextFile(`${home}/agent.json`));
      const key = await importPrivateKeyPem(
        await Deno.readTextFile(`${home}/keys/agent.key`),
      );
      assert.equal(agent.did, await didForKey("example.com", key.publicJwk));
    }
  });
});

Deno.test("register operator and set-server at once: the operator id and the new server are both kept", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    const issuer = await fakeIssuer({ registerDelayMs: 300 });
    const init = await run([
      "--home",
      home,
      "init",
      "--operator",
      "--domain",
      "example.com",
      "--server",
      ISSUER,
    ]);
    assert.equal(init.exit, 0, init.stderr);
    const register = run(["--home", home, "register", "operator"], issuer);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const moved = await run(
      ["--home", home, "set-server", "--url", "https://issuer.test:8443"],
      issuer,
    );
    assert.equal(moved.exit, 0, moved.stderr);
    assert.equal((await register).exit, 0);
    const operator = JSON.parse(
      await Deno.readTextFile(`${home}/operator.json`),
    );
    assert.equal(operator.operator_id, OPERATOR_ID);
    assert.equal(operator.server, "https://issuer.test:8443");
  });
});
