/** An agent rotates its own key: the DID stays, the old key stops working, the new one works. */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { importPrivateKeyPem } from "../../src/core/keys.ts";
import {
  ok,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("rotate-key: same DID, new key; the old key is refused afterwards", async () => {
  await withIssuerProcess("a4a-rotate-", async ({ dir, dns, url }) => {
    const home = `${dir}/home`;
    const operatorId = await verifiedOperator(home, "example.com", url, dns);
    const did = await registeredAgent(home, "example.com", url, operatorId);
    ok(
      await cli(["agent-scopes", "set", "--scopes", "read:payments"], { home }),
      "grant",
    );
    const oldPem = await Deno.readTextFile(`${home}/keys/agent.key`);
    const before = ok(await cli(["issue"], { home }), "issue with the old key")
      .stdout.trim();

    const rotated = JSON.parse(
      ok(await cli(["rotate-key", "--json"], { home }), "rotate-key").stdout,
    );
    assert.equal(rotated.did, did);
    const newPem = await Deno.readTextFile(`${home}/keys/agent.key`);
    assert.notEqual(newPem, oldPem);
    assert.equal(
      (await Deno.stat(`${home}/keys/agent.key`)).mode! & 0o777,
      0o600,
    );
    await assert.rejects(
      Deno.stat(`${home}/keys/agent.key.next`),
      Deno.errors.NotFound,
    );

    // The DID document now carries the new key.
    const document = JSON.parse(
      ok(await cli(["did", "show"], { home }), "did show").stdout,
    );
    const newKey = await importPrivateKeyPem(newPem);
    assert.equal(document.id, did);
    assert.equal(
      document.verificationMethod[0].publicKeyJwk.x,
      newKey.publicJwk.x,
    );

    // New key works; tokens issued before stay valid; the old key is refused.
    const after = ok(await cli(["issue"], { home }), "issue with the new key")
      .stdout.trim();
    ok(
      await cli(["verify", "--token", after, "--online"], { home }),
      "new token",
    );
    ok(
      await cli(["verify", "--token", before, "--online"], { home }),
      "token from before the rotation",
    );
    const oldKey = await importPrivateKeyPem(oldPem);
    const client = new IssuerClient(url);
    await assert.rejects(
      client.issueToken(did, oldKey.privateKey, { scope: "read:payments" }),
      (error) =>
        error instanceof Auth4AgentError && error.code === "ERR_BAD_SIGNATURE",
    );
    await assert.rejects(
      client.changeAgentStatus(did, "suspend", undefined, {
        privateKey: oldKey.privateKey,
        kid: did,
      }),
      (error) =>
        error instanceof Auth4AgentError &&
        error.code === "ERR_REQUEST_SIGNATURE_INVALID",
    );
  });
});
