/**
 * Agent registration and grants through the real handler. Every refusal is
 * checked twice: the HTTP status with its stable error_code, and that nothing
 * stored changed (read back through the store's getters).
 */
import assert from "node:assert/strict";
import type { Signer } from "../../src/client/issuer_client.ts";
import { didForKey } from "../../src/core/did.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  agentIdentity,
  assertError,
  assertNoInternalErrors,
  assertOk,
  createAgent,
  createVerifiedOperator,
  type Fixture,
  registerOperator,
  send,
  signedRequest,
  type TestAgent,
  withFixture,
} from "./helpers.ts";

function register(
  fx: Fixture,
  agent: TestAgent,
  operatorId: string,
  signWith = agent.pair,
) {
  return signedRequest(
    fx,
    "POST",
    "/v1/agents",
    { did: agent.did, operator_id: operatorId },
    { privateKey: signWith.privateKey, publicJwk: signWith.publicJwk },
  );
}

function putScopes(
  fx: Fixture,
  did: string,
  scopes: unknown,
  signer: Signer,
) {
  return signedRequest(
    fx,
    "PUT",
    `/v1/agents/${did}/scopes`,
    { scopes },
    signer,
  );
}

Deno.test("agents: registration answers 201 and the agent is stored active", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await agentIdentity("example.com");
    const { response } = await register(fx, agent, operator.id);
    const created = await assertOk(response, 201);
    assert.deepEqual(created, {
      did: agent.did,
      domain: "example.com",
      operator_id: operator.id,
      status: "active",
      created_at: fx.clock.now().toISOString(),
    });
    const stored = await fx.store.getAgent(agent.did);
    assert.equal(stored?.status, "active");
    assert.equal(stored?.operatorId, operator.id);
    assert.equal(stored?.publicJwk.x, agent.pair.publicJwk.x);

    const status = await assertOk(await send(fx, `/v1/agents/${agent.did}`));
    assert.equal(status.did, agent.did);
    const doc = await send(fx, `/v1/agents/${agent.did}/did.json`);
    assert.equal(doc.status, 200);
    assert.equal((await doc.json()).id, agent.did);
    assertNoInternalErrors(fx);
  });
});

Deno.test("agents: a DID not derived from the signing key is 400 ERR_INVALID_DID", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await agentIdentity("example.com");
    const other = await generateKeyPair();
    const { response } = await register(fx, agent, operator.id, other);
    await assertError(response, 400, "ERR_INVALID_DID");
    assert.equal(await fx.store.getAgent(agent.did), undefined);
    // Nor was the signer's own DID registered.
    assert.equal(
      await fx.store.getAgent(await didForKey("example.com", other.publicJwk)),
      undefined,
    );
  });
});

Deno.test("agents: a malformed DID is 400 ERR_INVALID_DID", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const pair = await generateKeyPair();
    for (
      const did of [
        "did:agent:example.com:XYZ",
        "did:web:example.com",
        "did:agent:Example.com:" + "0".repeat(32),
      ]
    ) {
      const { response } = await signedRequest(
        fx,
        "POST",
        "/v1/agents",
        { did, operator_id: operator.id },
        { privateKey: pair.privateKey, publicJwk: pair.publicJwk },
      );
      await assertError(response, 400, "ERR_INVALID_DID");
    }
  });
});

Deno.test("agents: an operator of another domain is 403 ERR_DOMAIN_MISMATCH", async () => {
  await withFixture(async (fx) => {
    const other = await createVerifiedOperator(fx, "other.example");
    const agent = await agentIdentity("example.com");
    const { response } = await register(fx, agent, other.id);
    await assertError(response, 403, "ERR_DOMAIN_MISMATCH");
    assert.equal(await fx.store.getAgent(agent.did), undefined);
  });
});

Deno.test("agents: an unknown operator is 404 ERR_OPERATOR_NOT_FOUND", async () => {
  await withFixture(async (fx) => {
    const agent = await agentIdentity("example.com");
    const { response } = await register(fx, agent, `op_${"a".repeat(32)}`);
    await assertError(response, 404, "ERR_OPERATOR_NOT_FOUND");
    assert.equal(await fx.store.getAgent(agent.did), undefined);
  });
});

Deno.test("agents: registering twice is 409 ERR_AGENT_EXISTS and keeps the first record", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const second = await registerOperator(fx, "example.com");
    const agent = await agentIdentity("example.com");
    await assertOk((await register(fx, agent, operator.id)).response, 201);
    const before = await fx.store.getAgent(agent.did);

    fx.clock.advance(10);
    await assertError(
      (await register(fx, agent, operator.id)).response,
      409,
      "ERR_AGENT_EXISTS",
    );
    // Not even to move it under another operator of the domain.
    await assertError(
      (await register(fx, agent, second.id)).response,
      409,
      "ERR_AGENT_EXISTS",
    );
    assert.deepEqual(await fx.store.getAgent(agent.did), before);
  });
});

Deno.test("agents: registration must be signed with the agent's own key (jwk), not a kid", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await agentIdentity("example.com");
    const { response } = await signedRequest(
      fx,
      "POST",
      "/v1/agents",
      { did: agent.did, operator_id: operator.id },
      operator.signer,
    );
    await assertError(response, 400, "ERR_INVALID_REQUEST");
    assert.equal(await fx.store.getAgent(agent.did), undefined);
  });
});

Deno.test("grants: the agent's operator sets scopes; the agent and operator read them", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await createAgent(fx, operator, { scopes: null });
    const { response } = await putScopes(
      fx,
      agent.did,
      ["read:data", "write:data,admin:reports"],
      operator.signer,
    );
    const set = await assertOk(response);
    assert.deepEqual(set.scopes, ["read:data", "write:data", "admin:reports"]);
    assert.deepEqual((await fx.store.getAgentScopes(agent.did))?.scopes, [
      "read:data",
      "write:data",
      "admin:reports",
    ]);
    for (const signer of [operator.signer, agent.signer]) {
      const read = await signedRequest(
        fx,
        "GET",
        `/v1/agents/${agent.did}/scopes`,
        undefined,
        signer,
      );
      const grant = await assertOk(read.response);
      assert.deepEqual(grant.scopes, [
        "read:data",
        "write:data",
        "admin:reports",
      ]);
      assert.equal(grant.updated_at, fx.clock.now().toISOString());
    }
  });
});

Deno.test("grants: scopes set by a different operator are 403 ERR_FORBIDDEN", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx, "example.com");
    const agent = await createAgent(fx, operator, { scopes: ["read:data"] });
    const before = await fx.store.getAgentScopes(agent.did);
    const stranger = await createVerifiedOperator(fx, "other.example");
    fx.clock.advance(5);
    const { response } = await putScopes(
      fx,
      agent.did,
      ["admin:root"],
      stranger.signer,
    );
    await assertError(response, 403, "ERR_FORBIDDEN", "access_denied");
    assert.deepEqual(await fx.store.getAgentScopes(agent.did), before);

    // The agent cannot grant itself scopes either.
    const self = await putScopes(
      fx,
      agent.did,
      ["admin:root"],
      agent.signer,
    );
    await assertError(self.response, 403, "ERR_FORBIDDEN");
    assert.deepEqual(await fx.store.getAgentScopes(agent.did), before);

    // Nor may the stranger read the grant.
    const read = await signedRequest(
      fx,
      "GET",
      `/v1/agents/${agent.did}/scopes`,
      undefined,
      stranger.signer,
    );
    await assertError(read.response, 403, "ERR_FORBIDDEN");
  });
});

Deno.test("grants: an unverified operator gets 400 ERR_OPERATOR_NOT_VERIFIED", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    const agent = await createAgent(fx, operator, { scopes: null });
    const { response } = await putScopes(
      fx,
      agent.did,
      ["read:data"],
      operator.signer,
    );
    await assertError(response, 400, "ERR_OPERATOR_NOT_VERIFIED");
    assert.equal(await fx.store.getAgentScopes(agent.did), undefined);
  });
});

Deno.test("grants: malformed scopes are refused and change nothing", async () => {
  await withFixture(async (fx) => {
    const operator = await createVerifiedOperator(fx);
    const agent = await createAgent(fx, operator, { scopes: ["read:data"] });
    const before = await fx.store.getAgentScopes(agent.did);
    const signer = operator.signer;
    const cases: [
      unknown,
      number,
      "ERR_INVALID_REQUEST" | "ERR_INVALID_SCOPE_SYNTAX",
    ][] = [
      ["read:data", 400, "ERR_INVALID_REQUEST"],
      [[1, 2], 400, "ERR_INVALID_REQUEST"],
      [[], 400, "ERR_INVALID_SCOPE_SYNTAX"],
      [['bad"quote'], 400, "ERR_INVALID_SCOPE_SYNTAX"],
      [[`x${"y".repeat(200)}`], 400, "ERR_INVALID_SCOPE_SYNTAX"],
    ];
    for (const [scopes, status, code] of cases) {
      await assertError(
        (await putScopes(fx, agent.did, scopes, signer)).response,
        status,
        code,
      );
    }
    assert.deepEqual(await fx.store.getAgentScopes(agent.did), before);
    assertNoInternalErrors(fx);
  });
});

Deno.test("agents: unknown agents are 404 ERR_AGENT_NOT_FOUND", async () => {
  await withFixture(async (fx) => {
    const agent = await agentIdentity("example.com");
    await assertError(
      await send(fx, `/v1/agents/${agent.did}`),
      404,
      "ERR_AGENT_NOT_FOUND",
    );
    await assertError(
      await send(fx, `/v1/agents/${agent.did}/did.json`),
      404,
      "ERR_AGENT_NOT_FOUND",
    );
    await assertError(
      await send(fx, "/v1/agents/not-a-did"),
      400,
      "ERR_INVALID_DID",
    );
    await assertError(
      await send(fx, "/v1/agents/%E0%A4%A"),
      400,
      "ERR_INVALID_REQUEST",
    );
  });
});
