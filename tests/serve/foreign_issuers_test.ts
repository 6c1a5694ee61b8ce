/**
 * The platforms trusted for workload federation (foreign_issuers.ts): keys
 * found through discovery over real HTTP (a fake platform on 127.0.0.1),
 * fetched once for concurrent callers, kept 5 minutes, refetched for an
 * unknown kid at most every 30 s, kept serving up to a day while the
 * platform is down; metadata, JWKS URLs, redirects and sizes that could let
 * another party pick the keys are refused. Time moves by the `now` passed.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  inspectWorkloadToken,
  type UnverifiedWorkloadToken,
  verifyWorkloadToken,
} from "../../src/core/workload_token.ts";
import {
  ForeignIssuers,
  platformUrlProblem,
} from "../../src/serve/foreign_issuers.ts";
import {
  type FakePlatform,
  startFakePlatform,
} from "../helpers/fake_platform.ts";
import { code } from "../core/_helpers.ts";

const T0 = new Date(Date.UTC(2026, 2, 1, 12));
/** T0 moved by `seconds`. */
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const MINUTE = 60;
const HOUR = 3600;

const DISCOVERY = "/.well-known/openid-configuration";
const untrusted = code("ERR_WORKLOAD_ISSUER_UNTRUSTED");
const unreachable = code("ERR_WORKLOAD_ISSUER_UNREACHABLE");
const invalid = code("ERR_WORKLOAD_TOKEN_INVALID");

const CLAIMS = { sub: "system:serviceaccount:ci:deployer", aud: "issuer" };

/** A platform for the length of `fn`, closed after (if `fn` did not). */
async function withPlatform(
  fn: (platform: FakePlatform) => Promise<void>,
  options: { alg?: "RS256" | "ES256" | "EdDSA" } = {},
): Promise<void> {
  const platform = await startFakePlatform(options);
  try {
    await fn(platform);
  } finally {
    await platform.close();
  }
}

/** `inner` (the real fetch unless given), with every URL asked recorded. */
function counting(inner: typeof fetch = fetch) {
  const urls: string[] = [];
  const counted: typeof fetch = (input, init) => {
    urls.push(input instanceof Request ? input.url : String(input));
    return inner(input, init);
  };
  return { fetch: counted, urls };
}

/** A fetch that answers from `routes` by URL (404 elsewhere), recording each. */
function routed(routes: Record<string, () => Response>) {
  return counting((input) => {
    const url = input instanceof Request ? input.url : String(input);
    const route = routes[url];
    return Promise.resolve(
      route ? route() : new Response("not found", { status: 404 }),
    );
  });
}

/** A token of the platform, inspected (what ForeignIssuers.key takes). */
async function token(
  platform: FakePlatform,
  options: Parameters<FakePlatform["mint"]>[1] = {},
  claims: Record<string, unknown> = {},
): Promise<UnverifiedWorkloadToken> {
  return inspectWorkloadToken(
    await platform.mint({ ...CLAIMS, ...claims }, options),
  );
}

async function keyPair(alg: "RS256" | "ES256" | "EdDSA", kid: string) {
  const pair = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...await jose.exportJWK(pair.publicKey), kid, alg };
  return {
    privateKey: pair.privateKey,
    jwk,
    thumbprint: await jose.calculateJwkThumbprint(jwk),
  };
}

/** A token signed by a key of our own for `iss` (the platforms are routed). */
async function foreignToken(
  iss: string,
  privateKey: CryptoKey,
  header: jose.JWTHeaderParameters = { alg: "RS256", kid: "k1" },
): Promise<UnverifiedWorkloadToken> {
  const now = Math.floor(Date.now() / 1000);
  return inspectWorkloadToken(
    await new jose.SignJWT({ iss, ...CLAIMS, iat: now, exp: now + 600 })
      .setProtectedHeader(header)
      .sign(privateKey),
  );
}

// --- trust ----------------------------------------------------------------------

Deno.test("workload issuers: a token of an issuer not configured is refused without any request", async () => {
  await withPlatform(async (platform) => {
    const { fetch, urls } = counting();
    const issuers = new ForeignIssuers([platform.issuer], { fetch });
    assert.equal(issuers.trusts(platform.issuer), true);
    for (
      const iss of [
        "https://other.example",
        `${platform.issuer}/`,
        platform.issuer.replace("127.0.0.1", "localhost"),
        platform.issuer.toUpperCase(),
      ]
    ) {
      assert.equal(issuers.trusts(iss), false, iss);
      await assert.rejects(
        issuers.key(await token(platform, {}, { iss }), T0),
        untrusted,
        iss,
      );
    }
    assert.deepEqual(urls, []);
    assert.deepEqual(platform.requests, []);
  });
});

// --- keys by kid ----------------------------------------------------------------

Deno.test("workload issuers: the key a token's kid names is found through discovery, and verifies it", async () => {
  await withPlatform(async (platform) => {
    const second = await keyPair("RS256", "k2");
    platform.setKeys([platform.publicJwk, second.jwk]);
    const issuers = new ForeignIssuers([platform.issuer]);
    const byK2 = await token(platform, { kid: "k2", key: second.privateKey });
    const key = await issuers.key(byK2, T0);
    assert.equal(key.thumbprint, second.thumbprint);
    const claims = verifyWorkloadToken(byK2, key, { now: new Date() });
    assert.equal(claims.sub, CLAIMS.sub);
    assert.deepEqual(claims.aud, [CLAIMS.aud]);
    const k1 = await issuers.key(await token(platform), T0);
    assert.equal(
      k1.thumbprint,
      await jose.calculateJwkThumbprint(platform.publicJwk),
    );
    assert.deepEqual(platform.requests, [DISCOVERY, "/jwks"]);
    // A kid of the wrong kind of key is not taken for another alg's.
    const es = await keyPair("ES256", "k1");
    await assert.rejects(
      issuers.key(
        await token(platform, { alg: "ES256", key: es.privateKey }),
        T0,
      ),
      invalid,
    );
  });
});

Deno.test("workload issuers: concurrent calls share one discovery and one JWKS fetch", async () => {
  await withPlatform(async (platform) => {
    const issuers = new ForeignIssuers([platform.issuer]);
    const good = await token(platform);
    const unknown = await token(platform, { kid: "nope" });
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, () => issuers.key(good, T0)),
      ...Array.from({ length: 5 }, () => issuers.key(unknown, T0)),
    ]);
    const thumbprints = new Set(
      results.slice(0, 20).map((result) => {
        if (result.status !== "fulfilled") throw result.reason;
        return result.value.thumbprint;
      }),
    );
    assert.equal(thumbprints.size, 1);
    for (const result of results.slice(20)) {
      if (result.status !== "rejected") assert.fail("an unknown kid's key");
      invalid(result.reason);
    }
    assert.deepEqual(platform.requests, [DISCOVERY, "/jwks"]);
  });
});

Deno.test("workload issuers: keys are kept 5 minutes, then fetched again", async () => {
  await withPlatform(async (platform) => {
    const issuers = new ForeignIssuers([platform.issuer]);
    const good = await token(platform);
    await issuers.key(good, T0);
    assert.equal(platform.requests.length, 2);
    // Rotated at the platform: the key held still serves meanwhile.
    const next = await keyPair("RS256", "k2");
    platform.setKeys([next.jwk]);
    await issuers.key(good, at(4 * MINUTE));
    await issuers.key(good, at(5 * MINUTE - 1));
    assert.equal(platform.requests.length, 2, "kept up to 5 minutes");
    await assert.rejects(issuers.key(good, at(6 * MINUTE)), invalid);
    assert.deepEqual(platform.requests, [
      DISCOVERY,
      "/jwks",
      DISCOVERY,
      "/jwks",
    ]);
    const rotated = await token(platform, { kid: "k2", key: next.privateKey });
    assert.equal(
      (await issuers.key(rotated, at(6 * MINUTE))).thumbprint,
      next.thumbprint,
    );
    assert.equal(platform.requests.length, 4);
  });
});

Deno.test("workload issuers: an unknown kid refetches the keys at most once per 30 s", async () => {
  await withPlatform(async (platform) => {
    const issuers = new ForeignIssuers([platform.issuer]);
    await issuers.key(await token(platform), T0);
    const next = await keyPair("RS256", "k2");
    const byK2 = await token(platform, { kid: "k2", key: next.privateKey });
    const fetches = () => platform.requests.filter((p) => p === "/jwks").length;

    await assert.rejects(issuers.key(byK2, at(1)), invalid);
    assert.equal(fetches(), 1, "fetched a second ago");
    await assert.rejects(issuers.key(byK2, at(30)), invalid);
    assert.equal(fetches(), 2, "30 s after the last fetch");
    for (const second of [31, 45]) {
      await assert.rejects(issuers.key(byK2, at(second)), invalid);
    }
    assert.equal(fetches(), 2, "not again within 30 s");
    // The platform rotates: the new kid is found at the next refetch.
    platform.setKeys([platform.publicJwk, next.jwk]);
    await assert.rejects(issuers.key(byK2, at(50)), invalid);
    assert.equal(fetches(), 2);
    const key = await issuers.key(byK2, at(60));
    assert.equal(key.thumbprint, next.thumbprint);
    assert.equal(fetches(), 3);
    // And the keys fetched then are kept, known kids served without a fetch.
    await issuers.key(byK2, at(61));
    await issuers.key(await token(platform), at(62));
    assert.equal(fetches(), 3);
  });
});

// --- tokens without a kid ---------------------------------------------------------

Deno.test("workload issuers: a token without kid takes the only key of its kind, never one of several", async () => {
  await withPlatform(async (platform) => {
    const es = await keyPair("ES256", "e1");
    const rsa2 = await keyPair("RS256", "k2");
    const k1 = await jose.calculateJwkThumbprint(platform.publicJwk);
    const noKid = await token(platform, { kid: null });
    const esNoKid = await token(platform, {
      kid: null,
      alg: "ES256",
      key: es.privateKey,
    });
    const edNoKid = await token(platform, {
      kid: null,
      alg: "EdDSA",
      key: (await keyPair("EdDSA", "d1")).privateKey,
    });
    assert.equal(noKid.kid, undefined);

    // One RSA key, one EC key: each kid-less token has its one key.
    platform.setKeys([platform.publicJwk, es.jwk]);
    let issuers = new ForeignIssuers([platform.issuer]);
    assert.equal((await issuers.key(noKid, T0)).thumbprint, k1);
    assert.equal((await issuers.key(esNoKid, T0)).thumbprint, es.thumbprint);
    await assert.rejects(issuers.key(edNoKid, T0), invalid, "no OKP key");

    // Two RSA keys: no guessing which.
    platform.setKeys([platform.publicJwk, rsa2.jwk, es.jwk]);
    issuers = new ForeignIssuers([platform.issuer]);
    await assert.rejects(issuers.key(noKid, T0), invalid);
    assert.equal((await issuers.key(esNoKid, T0)).thumbprint, es.thumbprint);
    assert.equal((await issuers.key(await token(platform), T0)).thumbprint, k1);
  });
});

Deno.test("workload issuers: a malformed key published spoils itself only", async () => {
  await withPlatform(async (platform) => {
    const weak = { ...platform.publicJwk, kid: "weak", n: "AQAB" };
    platform.setKeys([weak, platform.publicJwk, { kty: "oct", k: "AQAB" }]);
    const issuers = new ForeignIssuers([platform.issuer]);
    await assert.rejects(
      issuers.key(await token(platform, { kid: "weak" }), T0),
      invalid,
    );
    assert.equal(
      (await issuers.key(await token(platform), T0)).thumbprint,
      await jose.calculateJwkThumbprint(platform.publicJwk),
    );
    // Without a kid: two RSA keys published, even if one is unusable.
    await assert.rejects(
      issuers.key(await token(platform, { kid: null }), T0),
      invalid,
    );
  });
});

// --- an unreachable platform -----------------------------------------------------

Deno.test("workload issuers: while the platform is down the keys held serve up to a day", async () => {
  const platform = await startFakePlatform();
  let closed = false;
  try {
    const { fetch, urls } = counting();
    const issuers = new ForeignIssuers([platform.issuer], { fetch });
    const good = await token(platform);
    const thumbprint = (await issuers.key(good, T0)).thumbprint;
    await platform.close();
    closed = true;

    const before = urls.length;
    assert.equal(
      (await issuers.key(good, at(6 * MINUTE))).thumbprint,
      thumbprint,
    );
    assert.ok(urls.length > before, "it tried the platform");
    const tried = urls.length;
    await issuers.key(good, at(6 * MINUTE + 10));
    assert.equal(urls.length, tried, "not again within 30 s");
    assert.equal(
      (await issuers.key(good, at(23 * HOUR))).thumbprint,
      thumbprint,
    );
    await assert.rejects(issuers.key(good, at(24 * HOUR + 1)), unreachable);
    await assert.rejects(issuers.key(good, at(25 * HOUR)), unreachable);

    // Down from the start: no keys at all.
    const fresh = new ForeignIssuers([platform.issuer]);
    await assert.rejects(fresh.key(good, T0), unreachable);
    await assert.rejects(fresh.key(good, at(1)), unreachable);
  } finally {
    if (!closed) await platform.close();
  }
});

Deno.test("workload issuers: metadata naming another issuer is refused", async () => {
  // Real HTTP: configured with a trailing slash, the platform's discovery
  // names it without. Discovery answered, so RFC 8414's URL is not tried
  // (its 404 would hide why).
  await withPlatform(async (platform) => {
    const iss = `${platform.issuer}/`;
    const issuers = new ForeignIssuers([iss]);
    await assert.rejects(
      issuers.key(await token(platform, {}, { iss }), T0),
      unreachable,
    );
    assert.deepEqual(platform.requests, [DISCOVERY]);
  });
  // Another issuer named outright: its JWKS is never asked.
  const { privateKey, jwk } = await keyPair("RS256", "k1");
  const issuer = "https://platform.example";
  const { fetch, urls } = routed({
    [`${issuer}${DISCOVERY}`]: () =>
      Response.json({
        issuer: "https://attacker.example",
        jwks_uri: `${issuer}/jwks`,
      }),
    [`${issuer}/jwks`]: () => Response.json({ keys: [jwk] }),
  });
  const issuers = new ForeignIssuers([issuer], { fetch });
  await assert.rejects(
    issuers.key(await foreignToken(issuer, privateKey), T0),
    unreachable,
  );
  assert.ok(!urls.includes(`${issuer}/jwks`));
});

Deno.test("workload issuers: a jwks_uri that is not https (or loopback http), or missing, is refused", async () => {
  const { privateKey, jwk } = await keyPair("RS256", "k1");
  const issuer = "https://platform.example";
  for (
    const jwksUri of [
      "http://example.com/jwks",
      "https://user:pw@platform.example/jwks",
      "https://platform.example/jwks#x",
      "/jwks",
      undefined,
      42,
    ]
  ) {
    const { fetch, urls } = routed({
      [`${issuer}${DISCOVERY}`]: () =>
        Response.json({ issuer, jwks_uri: jwksUri }),
      [String(jwksUri)]: () => Response.json({ keys: [jwk] }),
      [`${issuer}/jwks`]: () => Response.json({ keys: [jwk] }),
    });
    const issuers = new ForeignIssuers([issuer], { fetch });
    await assert.rejects(
      issuers.key(await foreignToken(issuer, privateKey), T0),
      unreachable,
      String(jwksUri),
    );
    assert.deepEqual(urls, [`${issuer}${DISCOVERY}`], String(jwksUri));
  }
});

Deno.test("workload issuers: a redirect is not followed, for the metadata or the JWKS", async () => {
  await withPlatform(async (platform) => {
    // A second platform on 127.0.0.1 whose documents redirect: to its own
    // metadata, to the fake platform's JWKS (whose key signs the token).
    let mode: "direct" | "redirect" = "redirect";
    const requests: string[] = [];
    let issuer = "";
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => {
        const path = new URL(request.url).pathname;
        requests.push(path);
        const metadata = () =>
          Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
        if (path === DISCOVERY) {
          return mode === "direct"
            ? metadata()
            : Response.redirect(`${issuer}/metadata`, 302);
        }
        if (path === "/metadata") return metadata();
        if (path === "/jwks") {
          return mode === "direct"
            ? Response.json({ keys: [platform.publicJwk] })
            : Response.redirect(`${platform.issuer}/jwks`, 307);
        }
        return new Response("not found", { status: 404 });
      },
    );
    issuer = `http://127.0.0.1:${server.addr.port}`;
    try {
      const redirected = await token(platform, {}, { iss: issuer });
      await assert.rejects(
        new ForeignIssuers([issuer]).key(redirected, T0),
        unreachable,
        "metadata redirected",
      );
      assert.ok(!requests.includes("/metadata"));

      // The metadata served directly, the JWKS redirected.
      const metadataOnly: typeof fetch = (input, init) => {
        const url = input instanceof Request ? input.url : String(input);
        mode = url.endsWith(DISCOVERY) ? "direct" : "redirect";
        return fetch(input, init);
      };
      await assert.rejects(
        new ForeignIssuers([issuer], { fetch: metadataOnly }).key(
          redirected,
          T0,
        ),
        unreachable,
        "JWKS redirected",
      );
      assert.ok(requests.includes("/jwks"));
      assert.ok(!platform.requests.includes("/jwks"), "never followed");

      // The control: served directly, the same token's key is found.
      mode = "direct";
      const key = await new ForeignIssuers([issuer]).key(redirected, T0);
      assert.equal(
        key.thumbprint,
        await jose.calculateJwkThumbprint(platform.publicJwk),
      );
    } finally {
      await server.shutdown();
    }
  });
});

// --- sizes ----------------------------------------------------------------------

/** A JWKS of `keys` padded to exactly `size` bytes of JSON. */
function jwksOf(keys: jose.JWK[], size: number): string {
  const bare = JSON.stringify({ keys, pad: "" });
  const text = JSON.stringify({ keys, pad: "x".repeat(size - bare.length) });
  assert.equal(new TextEncoder().encode(text).length, size);
  return text;
}

/** `text` as a body in 1000-byte chunks, without a Content-Length. */
function streamed(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + 1000));
      offset += 1000;
    },
  });
}

Deno.test("workload issuers: a JWKS over 64 KiB is refused, declared or streamed", async () => {
  const { privateKey, jwk } = await keyPair("RS256", "k1");
  const issuer = "https://platform.example";
  const cases: [string, number, (text: string) => Response][] = [];
  for (const size of [64 * 1024, 64 * 1024 + 1]) {
    cases.push(
      [
        "declared",
        size,
        (text) =>
          new Response(text, {
            headers: { "Content-Length": String(text.length) },
          }),
      ],
      ["streamed", size, (text) => new Response(streamed(text))],
    );
  }
  for (const [how, size, respond] of cases) {
    const body = jwksOf([jwk], size);
    const { fetch } = routed({
      [`${issuer}${DISCOVERY}`]: () =>
        Response.json({ issuer, jwks_uri: `${issuer}/jwks` }),
      [`${issuer}/jwks`]: () => respond(body),
    });
    const issuers = new ForeignIssuers([issuer], { fetch });
    const pending = issuers.key(await foreignToken(issuer, privateKey), T0);
    if (size > 64 * 1024) await assert.rejects(pending, unreachable, how);
    else assert.ok(await pending, `${how}: 64 KiB is taken`);
  }
  // A Content-Length that says more than is sent is refused unread.
  const { fetch } = routed({
    [`${issuer}${DISCOVERY}`]: () =>
      Response.json({ issuer, jwks_uri: `${issuer}/jwks` }),
    [`${issuer}/jwks`]: () =>
      new Response(JSON.stringify({ keys: [jwk] }), {
        headers: { "Content-Length": String(64 * 1024 + 1) },
      }),
  });
  await assert.rejects(
    new ForeignIssuers([issuer], { fetch }).key(
      await foreignToken(issuer, privateKey),
      T0,
    ),
    unreachable,
  );
});

Deno.test("workload issuers: a JWKS over 64 KiB is refused over real HTTP", async () => {
  await withPlatform(async (platform) => {
    const many = Array.from({ length: 200 }, (_, i) => ({
      ...platform.publicJwk,
      kid: `k${i + 1}`,
    }));
    assert.ok(JSON.stringify({ keys: many }).length > 64 * 1024);
    platform.setKeys(many);
    await assert.rejects(
      new ForeignIssuers([platform.issuer]).key(await token(platform), T0),
      unreachable,
    );
    assert.deepEqual(platform.requests, [DISCOVERY, "/jwks"]);
  });
});

Deno.test("workload issuers: a document that is not a JSON object, or a JWKS without keys, is refused", async () => {
  const { privateKey } = await keyPair("RS256", "k1");
  const issuer = "https://platform.example";
  const documents: [string, () => Response][] = [
    ["metadata not JSON", () => new Response("<html>")],
    ["metadata an array", () => Response.json([issuer])],
    ["metadata answers 500", () => new Response("down", { status: 500 })],
  ];
  for (const [why, respond] of documents) {
    const { fetch } = routed({ [`${issuer}${DISCOVERY}`]: respond });
    await assert.rejects(
      new ForeignIssuers([issuer], { fetch }).key(
        await foreignToken(issuer, privateKey),
        T0,
      ),
      unreachable,
      why,
    );
  }
  for (const jwks of [{}, { keys: "k1" }, { keys: {} }]) {
    const { fetch } = routed({
      [`${issuer}${DISCOVERY}`]: () =>
        Response.json({ issuer, jwks_uri: `${issuer}/jwks` }),
      [`${issuer}/jwks`]: () => Response.json(jwks),
    });
    await assert.rejects(
      new ForeignIssuers([issuer], { fetch }).key(
        await foreignToken(issuer, privateKey),
        T0,
      ),
      unreachable,
      JSON.stringify(jwks),
    );
  }
});

// --- RFC 8414 fallback ------------------------------------------------------------

Deno.test("workload issuers: without OpenID discovery, RFC 8414 metadata is used", async () => {
  const { privateKey, jwk, thumbprint } = await keyPair("ES256", "e1");
  const cases: [string, string][] = [
    [
      "https://platform.example/tenant-1",
      "https://platform.example/.well-known/oauth-authorization-server/tenant-1",
    ],
    [
      "https://platform.example",
      "https://platform.example/.well-known/oauth-authorization-server",
    ],
  ];
  for (const [issuer, metadataUrl] of cases) {
    const jwksUri = "https://keys.platform.example/jwks";
    const { fetch, urls } = routed({
      [metadataUrl]: () => Response.json({ issuer, jwks_uri: jwksUri }),
      [jwksUri]: () => Response.json({ keys: [jwk] }),
    });
    const issuers = new ForeignIssuers([issuer], { fetch });
    const key = await issuers.key(
      await foreignToken(issuer, privateKey, { alg: "ES256", kid: "e1" }),
      T0,
    );
    assert.equal(key.thumbprint, thumbprint);
    assert.deepEqual(urls, [
      `${issuer}${DISCOVERY}`,
      metadataUrl,
      jwksUri,
    ]);
  }
});

// --- platform URLs ----------------------------------------------------------------

Deno.test("workload issuers: platformUrlProblem takes https, and http to this host only", () => {
  for (
    const url of [
      "https://platform.example",
      "https://platform.example/",
      "https://platform.example:8443/tenant/1",
      "https://token.actions.githubusercontent.com",
      "http://127.0.0.1",
      "http://127.0.0.1:6443/k8s",
      "http://localhost:8080",
      "http://[::1]:9000",
    ]
  ) assert.equal(platformUrlProblem(url), undefined, url);
  for (
    const url of [
      "http://example.com",
      "http://example.com/jwks",
      "http://10.0.0.1",
      "http://127.0.0.1.example.com",
      "http://localhost.example.com",
      "ftp://platform.example",
      "file:///etc/passwd",
      "https://user:pw@platform.example",
      "https://user@platform.example",
      "https://platform.example/?tenant=1",
      "https://platform.example/#frag",
      "not a url",
      "/relative/path",
      "",
    ]
  ) assert.equal(typeof platformUrlProblem(url), "string", url);
});

// DEFECT (low): platformUrlProblem tests `url.search` and `url.hash`, which
// WHATWG URL gives as "" for an empty query or fragment, so
// "https://platform.example/?" and "https://platform.example/#" pass
// (RFC 3986: each has a query / fragment component; RFC 8414 §2: an issuer
// has none). `serve --workload-issuer https://platform.example/#` is taken
// at start, then discovery asks `https://platform.example/#/.well-known/
// openid-configuration` — the root page, the path lost in the fragment — and
// every token of that platform fails ERR_WORKLOAD_ISSUER_UNREACHABLE instead
// of the flag being refused up front.
Deno.test({
  name:
    "workload issuers: platformUrlProblem refuses an empty query or fragment too",
  fn() {
    for (
      const url of [
        "https://platform.example/?",
        "https://platform.example/#",
        "https://platform.example/jwks?",
        "http://127.0.0.1:8080/#",
      ]
    ) assert.equal(typeof platformUrlProblem(url), "string", url);
  },
});

Deno.test("workload issuers: with no keys held, a failed fetch answers the next 5 s of calls without asking again", async () => {
  const issuer = "https://platform.example";
  const { fetch, urls } = counting(() =>
    Promise.reject(new Error("connection refused"))
  );
  const issuers = new ForeignIssuers([issuer], { fetch });
  const { privateKey } = await keyPair("RS256", "k1");
  const tokenOf = await foreignToken(issuer, privateKey);
  for (let i = 0; i < 10; i++) {
    await assert.rejects(issuers.key(tokenOf, at(i % 5)), unreachable);
  }
  assert.equal(urls.length, 1);
  // Over 5 s after it failed: asked again.
  await assert.rejects(issuers.key(tokenOf, at(6)), unreachable);
  assert.equal(urls.length, 2);
});

Deno.test("workload issuers: a remote platform's jwks_uri on this host is refused; what the fetch saw goes to the log, not to the caller", async () => {
  const issuer = "https://platform.example";
  const { privateKey } = await keyPair("RS256", "k1");
  const logs: Record<string, unknown>[] = [];
  const { fetch, urls } = routed({
    [`${issuer}${DISCOVERY}`]: () =>
      Response.json({ issuer, jwks_uri: "http://localhost:9/internal" }),
  });
  const issuers = new ForeignIssuers([issuer], { fetch });
  await assert.rejects(
    issuers.key(await foreignToken(issuer, privateKey), T0),
    unreachable,
  );
  assert.ok(!urls.includes("http://localhost:9/internal"));

  const secret = "db_password=hunter2";
  const leaky = routed({
    [`${issuer}${DISCOVERY}`]: () => new Response(secret),
  });
  const quiet = new ForeignIssuers([issuer], {
    fetch: leaky.fetch,
    log: (line) => logs.push(line),
  });
  await assert.rejects(
    quiet.key(await foreignToken(issuer, privateKey), T0),
    (error) => unreachable(error) && !String(error).includes("hunter2"),
  );
  assert.ok(logs.some((line) => String(line.error).includes("is not valid")));
});

Deno.test("workload issuers: a platform failing slowly (packets dropped) is not asked again for 5 s after it failed", async () => {
  const issuer = "https://platform.example";
  const { fetch, urls } = counting(async () => {
    await new Promise((resolve) => setTimeout(resolve, 100));
    throw new TypeError("connection timed out");
  });
  const issuers = new ForeignIssuers([issuer], { fetch });
  const { privateKey } = await keyPair("RS256", "k1");
  const tokenOf = await foreignToken(issuer, privateKey);
  await assert.rejects(issuers.key(tokenOf, T0), unreachable);
  // 5.05 s after the first call began, 4.95 s after it failed.
  await assert.rejects(
    issuers.key(tokenOf, new Date(T0.getTime() + 5_050)),
    unreachable,
  );
  assert.equal(urls.length, 1);
});

Deno.test("workload issuers: a remote platform's jwks_uri naming this host in any spelling is refused unfetched", async () => {
  const issuer = "https://platform.example";
  const { privateKey } = await keyPair("RS256", "k1");
  for (
    const jwksUri of [
      "https://localhost/jwks",
      "https://localhost./jwks",
      "https://api.localhost/jwks",
      "https://127.0.0.2/jwks",
      "https://127.1/jwks",
      "https://2130706433/jwks",
      "https://0.0.0.0/jwks",
      "https://[::1]/jwks",
      "https://[::]/jwks",
      "https://[::ffff:127.0.0.1]/jwks",
    ]
  ) {
    const { fetch, urls } = routed({
      [`${issuer}${DISCOVERY}`]: () =>
        Response.json({ issuer, jwks_uri: jwksUri }),
    });
    const issuers = new ForeignIssuers([issuer], { fetch });
    await assert.rejects(
      issuers.key(await foreignToken(issuer, privateKey), T0),
      unreachable,
      jwksUri,
    );
    assert.equal(urls.length, 1, jwksUri);
  }
});

Deno.test("workload issuers: plain http goes only to names that surely stay on this host", () => {
  for (
    const url of ["http://127.0.0.1:8080", "http://localhost", "http://[::1]/"]
  ) {
    assert.equal(platformUrlProblem(url), undefined, url);
  }
  // A name a DNS answer could send elsewhere, or an odd spelling, needs https.
  for (
    const url of [
      "http://api.localhost",
      "http://127.0.0.2",
      "http://0.0.0.0",
      "http://[::ffff:127.0.0.1]",
    ]
  ) {
    assert.equal(typeof platformUrlProblem(url), "string", url);
  }
});
