/**
 * When `TokenVerifier` refetches the issuer's keys: concurrent callers share
 * one request; after a failed refetch the stale keys serve, without asking
 * again, for the refetch interval; a cache saved while the clock was ahead
 * is stale, not fresh forever.
 */
import assert from "node:assert/strict";
import { IssuerClient, type Jwks } from "../../src/client/issuer_client.ts";
import {
  type CachedJwks,
  type JwksCache,
  TokenVerifier,
} from "../../src/client/verifier.ts";
import { signAccessToken } from "../../src/core/access_token.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { testClaims } from "../helpers/claims.ts";
import { issuerAnswer } from "../helpers/fake_issuer.ts";
import {
  encodeStatusList,
  signStatusList,
} from "../../src/core/status_list.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";

const ISSUER = "https://issuer.test";
const NOW = new Date("2030-01-01T00:00:00Z");
const MINUTE = 60_000;

function at(offsetMs: number): Date {
  return new Date(NOW.getTime() + offsetMs);
}

/** A key, its JWKS and a token it signed, valid for an hour from NOW. */
async function fixture(): Promise<{ jwks: Jwks; token: string }> {
  const { privateKey, publicJwk } = await generateKeyPair();
  const token = await signAccessToken(testClaims(ISSUER, NOW), {
    kid: "k1",
    privateKey,
  });
  return { jwks: { keys: [{ ...publicJwk, kid: "k1" }] }, token };
}

/** A cache holding `keys` fetched at `fetchedAt`. */
function cacheOf(keys: Jwks["keys"], fetchedAt: Date): JwksCache {
  const value: CachedJwks = {
    issuer: ISSUER,
    keys,
    fetched_at: fetchedAt.toISOString(),
  };
  return {
    load: () => Promise.resolve(value),
    save: () => Promise.resolve(),
  };
}

/** An issuer answering metadata and `jwks`, counting requests by path. */
function countingIssuer(jwks: Jwks): {
  fetch: typeof fetch;
  count: (path: string) => number;
} {
  const counts = new Map<string, number>();
  const fetch = (input: string | URL | Request) => {
    const path = new URL(input instanceof Request ? input.url : input)
      .pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    return Promise.resolve(issuerAnswer(ISSUER, input, jwks));
  };
  return { fetch, count: (path) => counts.get(path) ?? 0 };
}

Deno.test("TokenVerifier: 100 concurrent verifies with stale keys and the issuer down make one request, then none for 30 s", async () => {
  const { jwks, token } = await fixture();
  let requests = 0;
  let release = () => {};
  const down = new Promise<Response>((_, reject) => {
    release = () => reject(new TypeError("connection refused"));
  });
  const client = new IssuerClient(ISSUER, {
    fetch: () => {
      requests++;
      return down;
    },
  });
  const verifier = new TokenVerifier(
    client,
    cacheOf(jwks.keys, at(-10 * MINUTE)),
  );
  const verifies = Array.from(
    { length: 100 },
    () => verifier.verify(token, { audience: null, now: NOW }),
  );
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();
  for (const claims of await Promise.all(verifies)) {
    assert.equal(claims.jti, "t1");
  }
  assert.equal(requests, 1, "one shared refetch");
  for (const offset of [1_000, 10_000, 29_999]) {
    await verifier.verify(token, { audience: null, now: at(offset) });
  }
  assert.equal(requests, 1, "no refetch within 30 s of the failed one");
  await verifier.verify(token, { audience: null, now: at(30_000) });
  assert.equal(requests, 2, "a refetch once 30 s have passed");
});

Deno.test("TokenVerifier: 100 concurrent verifies with stale keys fetch the JWKS once from a live issuer", async () => {
  const { jwks, token } = await fixture();
  const issuer = countingIssuer(jwks);
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch: issuer.fetch }),
    cacheOf(jwks.keys, at(-10 * MINUTE)),
  );
  await Promise.all(
    Array.from(
      { length: 100 },
      () => verifier.verify(token, { audience: null, now: NOW }),
    ),
  );
  assert.equal(issuer.count("/jwks"), 1);
  assert.equal(issuer.count("/.well-known/oauth-authorization-server"), 1);
  await verifier.verify(token, { audience: null, now: at(4 * MINUTE) });
  assert.equal(issuer.count("/jwks"), 1, "fresh keys are not refetched");
});

Deno.test("TokenVerifier: a cache fetched_at later than now is stale", async () => {
  const { jwks, token } = await fixture();
  const issuer = countingIssuer(jwks);
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch: issuer.fetch }),
    cacheOf(jwks.keys, at(60 * MINUTE)),
  );
  await verifier.verify(token, { audience: null, now: NOW });
  assert.equal(issuer.count("/jwks"), 1, "refetched");
});

Deno.test("TokenVerifier: a future-dated cache still serves when the issuer is down", async () => {
  const { jwks, token } = await fixture();
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, {
      fetch: () => Promise.reject(new TypeError("connection refused")),
    }),
    cacheOf(jwks.keys, at(60 * MINUTE)),
  );
  assert.equal(
    (await verifier.verify(token, { audience: null, now: NOW })).jti,
    "t1",
  );
});

Deno.test("TokenVerifier: cached entries that are not objects are skipped", async () => {
  const { jwks, token } = await fixture();
  const keys = [null, 7, ...jwks.keys] as unknown as Jwks["keys"];
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, {
      fetch: () => Promise.reject(new TypeError("connection refused")),
    }),
    cacheOf(keys, NOW),
  );
  assert.equal(
    (await verifier.verify(token, { audience: null, now: NOW })).jti,
    "t1",
  );
});

Deno.test("TokenVerifier: a forgotten audience is ERR_USAGE, not any audience; null accepts any, deliberately", async () => {
  const { jwks, token } = await fixture();
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch: countingIssuer(jwks).fetch }),
  );
  for (const options of [{}, undefined, { scopes: ["read"] }]) {
    await assert.rejects(
      // A JavaScript caller, or one that casts: the type requires it.
      verifier.verify(token, options as unknown as { audience: null }),
      (error) => error instanceof Auth4AgentError && error.code === "ERR_USAGE",
    );
  }
  await assert.rejects(
    verifier.verify(token, { audience: "https://other.example", now: NOW }),
    (error) =>
      error instanceof Auth4AgentError && error.code === "ERR_TOKEN_AUDIENCE",
  );
  assert.equal(
    (await verifier.verify(token, { audience: null, now: NOW })).jti,
    "t1",
  );
});

Deno.test("TokenVerifier: a cached key set of another issuer, or malformed, or unreadable, is not used", async () => {
  const { jwks, token } = await fixture();
  const down = new IssuerClient(ISSUER, {
    fetch: () => Promise.reject(new TypeError("connection refused")),
  });
  const caches: JwksCache[] = [
    {
      load: () =>
        Promise.resolve({
          issuer: "https://staging.issuer.test",
          keys: jwks.keys,
          fetched_at: NOW.toISOString(),
        }),
      save: () => Promise.resolve(),
    },
    {
      load: () =>
        Promise.resolve(
          { issuer: ISSUER, keys: null } as unknown as CachedJwks,
        ),
      save: () => Promise.resolve(),
    },
    {
      load: () => Promise.reject(new Error("EACCES")),
      save: () => Promise.resolve(),
    },
  ];
  for (const cache of caches) {
    await assert.rejects(
      new TokenVerifier(down, cache).verify(token, {
        audience: null,
        now: NOW,
      }),
      (error) =>
        error instanceof Auth4AgentError &&
        error.code === "ERR_ISSUER_UNREACHABLE",
    );
  }
  // The same issuer's cache, well formed, serves offline.
  assert.equal(
    (await new TokenVerifier(down, cacheOf(jwks.keys, NOW)).verify(token, {
      audience: null,
      now: NOW,
    })).jti,
    "t1",
  );
});

Deno.test("TokenVerifier: with stale keys, an issuer that drops packets costs a call 2 s, not 15", async () => {
  const { jwks, token } = await fixture();
  let dropped = 0;
  const silent = new IssuerClient(ISSUER, {
    // Answers nothing for 2.5 s, then the connection fails.
    fetch: () =>
      new Promise((_, reject) => {
        dropped++;
        setTimeout(() => reject(new TypeError("connection reset")), 2_500);
      }),
  });
  const verifier = new TokenVerifier(
    silent,
    cacheOf(jwks.keys, at(-10 * MINUTE)),
  );
  const started = performance.now();
  const claims = await verifier.verify(token, { audience: null, now: NOW });
  const waited = performance.now() - started;
  assert.equal(claims.jti, "t1");
  assert.ok(waited >= 1_900 && waited < 2_400, `${waited} ms`);
  assert.equal(dropped, 1);
  await new Promise((resolve) => setTimeout(resolve, 700)); // the refetch fails
});

Deno.test("TokenVerifier: before any keys, a malformed token is refused without asking the issuer", async () => {
  const { jwks } = await fixture();
  const issuer = countingIssuer(jwks);
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch: issuer.fetch }),
  );
  for (const garbage of ["x.y.z", "", "not a token"]) {
    await assert.rejects(
      verifier.verify(garbage, { audience: null, now: NOW }),
      (error) =>
        error instanceof Auth4AgentError && error.code === "ERR_TOKEN_INVALID",
    );
  }
  assert.equal(issuer.count("/jwks"), 0);
});

Deno.test("TokenVerifier with status: a cached list whose key has left the JWKS is not used", async () => {
  const k1 = await generateKeyPair(), k2 = await generateKeyPair();
  const k3 = await generateKeyPair();
  const uri = `${ISSUER}/oauth/status-lists/0`;
  const token = (kid: string, privateKey: CryptoKey) =>
    signAccessToken(
      testClaims(ISSUER, NOW, {
        jti: `t-${kid}`,
        status: { status_list: { idx: 5, uri } },
      }),
      { kid, privateKey },
    );
  const list = (revoked: number[], kid: string, privateKey: CryptoKey) =>
    signStatusList(
      { uri, iat: nowSeconds(NOW), lst: encodeStatusList(revoked) },
      { kid, privateKey },
    );
  // k1 signs the first list; then k1 is withdrawn and k3 comes.
  let jwks: Jwks = {
    keys: [{ ...k1.publicJwk, kid: "k1" }, { ...k2.publicJwk, kid: "k2" }],
  };
  let served = list([], "k1", k1.privateKey);
  const fetch = (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url === uri) {
      return Promise.resolve(
        new Response(served, {
          headers: { "Content-Type": "application/statuslist+jwt" },
        }),
      );
    }
    return Promise.resolve(issuerAnswer(ISSUER, input, jwks));
  };
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch, now: () => NOW }),
  );
  const byK2 = await token("k2", k2.privateKey);
  const options = (now: Date) => ({ audience: null, status: true, now });
  await verifier.verify(byK2, options(NOW));

  jwks = {
    keys: [{ ...k2.publicJwk, kid: "k2" }, { ...k3.publicJwk, kid: "k3" }],
  };
  served = list([5], "k2", k2.privateKey);
  // A token by k3 makes the verifier refetch the keys; k1 is gone.
  await verifier.verify(await token("k3", k3.privateKey), {
    audience: null,
    now: at(MINUTE / 2),
  });
  // Within the first list's ttl, but its key is withdrawn: fetched anew.
  await assert.rejects(
    verifier.verify(byK2, options(at(MINUTE / 2))),
    (error: unknown) =>
      error instanceof Auth4AgentError && error.code === "ERR_TOKEN_INACTIVE",
  );
});

Deno.test("TokenVerifier: with no keys and the issuer down, one request fails; calls then fail at once for 5 s", async () => {
  const { jwks, token } = await fixture();
  let requests = 0;
  let up = false;
  const client = new IssuerClient(ISSUER, {
    fetch: (input: string | URL | Request) => {
      requests++;
      if (!up) return Promise.reject(new TypeError("connection refused"));
      return Promise.resolve(issuerAnswer(ISSUER, input, jwks));
    },
  });
  const verifier = new TokenVerifier(client);
  const unreachable = (error: unknown) =>
    error instanceof Auth4AgentError &&
    error.code === "ERR_ISSUER_UNREACHABLE";
  await assert.rejects(
    verifier.verify(token, { audience: null, now: NOW }),
    unreachable,
  );
  assert.equal(requests, 1);
  for (const offset of [1_000, 4_999]) {
    await assert.rejects(
      verifier.verify(token, { audience: null, now: at(offset) }),
      unreachable,
    );
  }
  assert.equal(requests, 1, "no request within 5 s of the failed one");
  up = true;
  // 5 s after it failed (a few ms after it began): asked again.
  const claims = await verifier.verify(token, {
    audience: null,
    now: at(5_100),
  });
  assert.equal(claims.jti, "t1");
});
