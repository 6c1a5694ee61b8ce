/**
 * Rate limits through the real handler: per client (RateLimiter(20, 50), as
 * `serve` builds it by default) and per IP (10×), a limited request getting
 * 429 with Retry-After; rate 0 turns limiting off; IPv6 counted per /64. The
 * clock is fixed, so no bucket refills unless the test moves it.
 */
import assert from "node:assert/strict";
import { ipBucketKey, RateLimiter } from "../../src/serve/rate_limit.ts";
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

Deno.test("rate limit: IPv6 is limited per /64, IPv4-mapped IPv6 as its IPv4 address", async () => {
  await withFixture(async (fx) => {
    const nonce = async (remoteIp: string) => {
      const response = await fx.app(
        new Request(`${ISSUER}/v1/nonce`, { method: "POST" }),
        { remoteIp },
      );
      await response.body?.cancel();
      return response.status;
    };
    // A new interface id for every request, all in 2001:db8:1:2::/64.
    const results: number[] = [];
    for (let i = 1; i <= 501; i++) {
      results.push(await nonce(`2001:db8:1:2:${i.toString(16)}::1`));
    }
    assert.deepEqual(results, [...Array(500).fill(201), 429]);
    assert.equal(await nonce("2001:0DB8:0001:0002:ffff:ffff:ffff:fffe"), 429);
    assert.equal(await nonce("2001:db8:1:3::1"), 201);

    for (let i = 0; i < 500; i++) await nonce("198.51.100.7");
    assert.equal(await nonce("::ffff:198.51.100.7"), 429);
    assert.equal(await nonce("198.51.100.8"), 201);
  }, { rateLimit: 20 });
});

Deno.test("ipBucketKey: IPv4 as it is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4", async (t) => {
  await t.step("IPv4 is unchanged", () => {
    assert.equal(ipBucketKey("192.0.2.1"), "192.0.2.1");
    assert.equal(ipBucketKey("198.51.100.7"), "198.51.100.7");
  });
  await t.step("two addresses in one /64 share a key", () => {
    assert.equal(ipBucketKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
    assert.equal(
      ipBucketKey("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
      ipBucketKey("2001:db8:1:2::1"),
    );
  });
  await t.step("different /64s get different keys", () => {
    assert.notEqual(
      ipBucketKey("2001:db8:1:2::1"),
      ipBucketKey("2001:db8:1:3::1"),
    );
    assert.notEqual(ipBucketKey("2001:db8::1"), ipBucketKey("2001:db9::1"));
  });
  await t.step("compressed, uncompressed and upper-case forms agree", () => {
    const key = ipBucketKey("2001:db8::1");
    assert.equal(ipBucketKey("2001:0db8:0000:0000:0000:0000:0000:0001"), key);
    assert.equal(ipBucketKey("2001:DB8:0:0:0:0:0:1"), key);
    assert.equal(ipBucketKey("2001:db8:0::0:1"), key);
    assert.equal(key, "2001:db8:0:0::/64");
    assert.equal(ipBucketKey("::1"), ipBucketKey("0:0:0:0:0:0:0:1"));
  });
  await t.step("zone ids are dropped", () => {
    assert.equal(ipBucketKey("fe80::1%eth0"), ipBucketKey("fe80::2"));
  });
  await t.step("IPv4-mapped IPv6 is its IPv4 address", () => {
    assert.equal(ipBucketKey("::ffff:1.2.3.4"), "1.2.3.4");
    assert.equal(ipBucketKey("::FFFF:1.2.3.4"), "1.2.3.4");
    assert.equal(ipBucketKey("::ffff:102:304"), "1.2.3.4");
    assert.equal(ipBucketKey("0:0:0:0:0:ffff:0102:0304"), "1.2.3.4");
    // Not mapped: the /64 as any other IPv6 address.
    assert.equal(ipBucketKey("64:ff9b::1.2.3.4"), "64:ff9b:0:0::/64");
  });
  await t.step("anything else is kept as it is", () => {
    for (
      const other of ["local", "1:::2", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.400"]
    ) {
      assert.equal(ipBucketKey(other), other);
    }
  });
});

Deno.test("rate limiter: full buckets are dropped as new clients come, a limited client's bucket is kept", () => {
  const limiter = new RateLimiter(20, 50);
  for (let i = 0; i < 5_000; i++) limiter.take(`old-${i}`, 0);
  assert.equal(limiter.size, 5_000);
  // A client at its limit at 10 s.
  for (let i = 0; i < 50; i++) limiter.take("hot", 10_000);
  assert.throws(() => limiter.take("hot", 10_000), /too many requests/);
  // New clients at 10 s: the old buckets have refilled to full, and go.
  for (let i = 0; i < 1_000; i++) limiter.take(`new-${i}`, 10_000);
  assert.ok(limiter.size <= 1_001, `${limiter.size} buckets`);
  assert.throws(() => limiter.take("hot", 10_000), /too many requests/);
});
