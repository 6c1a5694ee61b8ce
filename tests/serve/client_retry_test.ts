/**
 * `IssuerClient.issueToken` (what `auth4agent issue` runs) asks for a fresh
 * challenge by itself when the one it got was used or expired meanwhile —
 * once, not forever.
 */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  ISSUER,
  postForm,
  setup,
  tokenParams,
  withFixture,
} from "./helpers.ts";

Deno.test("issueToken: a challenge used by someone else meanwhile is replaced by a fresh one", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    let challenges = 0;
    // A fetch that lets a competitor spend the first challenge before the client submits it.
    const racingFetch: typeof fetch = async (input, init) => {
      const response = await fx.fetch(input, init);
      if (String(input).endsWith("/v1/challenges") && ++challenges === 1) {
        const { nonce } = await response.clone().json();
        const stolen = await postForm(
          fx,
          "/oauth/token",
          await tokenParams(fx, agent, { nonce }),
        );
        assert.equal(stolen.status, 200);
        await stolen.body?.cancel();
      }
      return response;
    };
    const client = new IssuerClient(ISSUER, {
      fetch: racingFetch,
      now: fx.clock.now,
    });
    const token = await client.issueToken(agent.did, agent.pair.privateKey, {
      scope: "read:data",
    });
    assert.equal(token.scope, "read:data");
    assert.equal(challenges, 2);
  });
});

Deno.test("issueToken: an expired challenge is replaced; a second failure is reported", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    let challenges = 0;
    // Every challenge expires between its issue and its use.
    const slowFetch: typeof fetch = async (input, init) => {
      const response = await fx.fetch(input, init);
      if (String(input).endsWith("/v1/challenges")) {
        challenges++;
        fx.clock.advance(121);
      }
      return response;
    };
    const client = new IssuerClient(ISSUER, {
      fetch: slowFetch,
      now: fx.clock.now,
    });
    await assert.rejects(
      client.issueToken(agent.did, agent.pair.privateKey, {
        scope: "read:data",
      }),
      (error) =>
        error instanceof Auth4AgentError &&
        error.code === "ERR_CHALLENGE_INVALID",
    );
    assert.equal(challenges, 2, "one retry, not a loop");
  });
});
