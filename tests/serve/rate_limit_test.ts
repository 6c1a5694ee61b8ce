/**
 * Rate limits through the real handler: per client (RateLimiter(20, 50), as
 * `serve` builds it by default) and per IP (10×), a limited request getting
 * 429 with Retry-After; rate 0 turns limiting off. The clock is fixed, so no
 * bucket refills unless the test moves it.
 */
import assert from "node:assert/strict";
import {
  assertError,
  type Fixture,
  ISSUER,
  postForm,
  setup,
  type TestAgent,
  tokenParams,
  withFixture,
} from "./helpers.ts";

function challenge(fx: Fixture, did: string, remoteIp = "192.0.2.1") {
  return fx.app(
    new Request(`${ISSUER}/v1/challenges`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ client_id: did }),
    }),
    { remoteIp },
  );
}

/** The statuses, consuming the bodies. */
async function statuses(responses: Response[]): Promise<number[]> {
  return await Promise.all(responses.map(async (response) => {
    await response.body?.cancel();
    return response.status;
  }));
}

async function burstChallenges(fx: Fixture, agent: TestAgent, count: number) {
  const responses: Response[] = [];
  for (let i = 0; i < count; i++) {
    responses.push(await challenge(fx, agent.did));
  }
  return responses;
}

Deno.test("rate limit: challenges are limited per IP (500 burst), other IPs are not affected", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const results: number[] = [];
    for (let i = 0; i < 501; i++) {
      results.push(...await statuses([await challenge(fx, agent.did)]));
    }
    assert.deepEqual(results, [...Array(500).fill(201), 429]);
    const limited = await challenge(fx, agent.did);
    assert.equal(limited.headers.get("Retry-After"), "1");
    await assertError(
      limited,
      429,
      "ERR_RATE_LIMITED",
      "temporarily_unavailable",
    );
    // The same agent from another address is served: challenges cost nothing per client.
    assert.equal(
      (await statuses([await challenge(fx, agent.did, "192.0.2.2")]))[0],
      201,
    );
  }, { rateLimit: 20 });
});

Deno.test("rate limit: forged requests naming a victim do not spend the victim's budget", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const attacker = await crypto.subtle.generateKey(
      { name: "Ed25519" },
      false,
      ["sign", "verify"],
    ) as CryptoKeyPair;
    for (let i = 0; i < 60; i++) {
      const forged = await postForm(
        fx,
        "/oauth/token",
        await tokenParams(fx, agent, { privateKey: attacker.privateKey }),
      );
      await assertError(forged, 401, "ERR_BAD_SIGNATURE");
    }
    const real = await postForm(
      fx,
      "/oauth/token",
      await tokenParams(fx, agent),
    );
    assert.equal(real.status, 200);
    await real.body?.cancel();
  }, { rateLimit: 20 });
});

Deno.test("rate limit: the token endpoint limits per client too", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const results: number[] = [];
    for (let i = 0; i < 51; i++) {
      const response = await postForm(
        fx,
        "/oauth/token",
        await tokenParams(fx, agent),
      );
      results.push(response.status);
      if (i < 50) await response.body?.cancel();
      else await assertError(response, 429, "ERR_RATE_LIMITED");
    }
    assert.deepEqual(results, [...Array(50).fill(200), 429]);
  }, { rateLimit: 20 });
});

Deno.test("rate limit: per IP, 10× the client limit; other IPs and discovery are not affected", async () => {
  await withFixture(async (fx) => {
    const nonce = (remoteIp: string) =>
      fx.app(new Request(`${ISSUER}/v1/nonce`, { method: "POST" }), {
        remoteIp,
      });
    const results: number[] = [];
    for (let i = 0; i < 500; i++) {
      const response = await nonce("198.51.100.7");
      results.push(response.status);
      await response.body?.cancel();
    }
    assert.deepEqual(results, Array(500).fill(201));
    const limited = await nonce("198.51.100.7");
    assert.equal(limited.headers.get("Retry-After"), "1");
    await assertError(limited, 429, "ERR_RATE_LIMITED");

    const elsewhere = await nonce("198.51.100.8");
    assert.equal(elsewhere.status, 201);
    await elsewhere.body?.cancel();
    const metadata = await fx.app(
      new Request(`${ISSUER}/.well-known/oauth-authorization-server`),
      { remoteIp: "198.51.100.7" },
    );
    assert.equal(metadata.status, 200);
    await metadata.body?.cancel();
  }, { rateLimit: 20 });
});

Deno.test("rate limit: rate 0 turns limiting off", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const responses = await burstChallenges(fx, agent, 600);
    assert.deepEqual(
      await statuses(responses),
      Array(600).fill(201),
    );
  }, { rateLimit: 0 });
});
