/**
 * Distributed revocation across issuers (foreign_status_lists.ts): a
 * workload token naming its issuer's Token Status List is checked against
 * that list, fetched over real HTTP from a fake auth4agent issuer on
 * 127.0.0.1 (OpenID discovery, an Ed25519 JWKS, status lists it signs) and
 * only from the token issuer's own origin; held for its ttl, and up to its
 * exp while the issuer is down; none to be had is 503. Time moves by the
 * `now` passed; errors are told apart by their codes.
 */
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import * as jose from "jose";
import { base64url } from "../../src/core/encoding.ts";
import { nowSeconds, signCompactJws } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  encodeStatusList,
  MAX_STATUS_LIST_JWS_LENGTH,
  signStatusList,
  STATUS_LIST_LIFETIME_SECONDS,
  STATUS_LIST_MEDIA_TYPE,
  STATUS_LIST_SIZE,
  STATUS_LIST_TTL_SECONDS,
  STATUS_LIST_TYP,
  statusListUri,
} from "../../src/core/status_list.ts";
import { ForeignIssuers } from "../../src/serve/foreign_issuers.ts";
import { ForeignStatusLists } from "../../src/serve/foreign_status_lists.ts";
import { code } from "../core/_helpers.ts";

const T0 = new Date(Date.UTC(2026, 2, 1, 12));
const T0_S = nowSeconds(T0);
/** T0 moved by `seconds`. */
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

const invalid = code("ERR_WORKLOAD_TOKEN_INVALID");
const unreachable = code("ERR_WORKLOAD_ISSUER_UNREACHABLE");

const LIST_PATH = "/oauth/status-lists/0";
const MOVED_PATH = "/oauth/status-lists/moved";

type SigningKey = { kid: string; privateKey: CryptoKey };

interface ListOptions {
  iat?: number;
  revoked?: Iterable<number>;
  /** The `lst` as is (a list shorter than STATUS_LIST_SIZE). */
  lst?: string;
  key?: SigningKey;
  /** Members laid over the header and the payload the issuer signs. */
  header?: Record<string, unknown>;
  payload?: Record<string, unknown>;
}

interface FakeIssuer {
  /** `http://127.0.0.1:PORT`. */
  issuer: string;
  /** Its list 0: `<issuer>/oauth/status-lists/0`. */
  uri: string;
  /** Paths asked, in order. */
  requests: string[];
  /** Times list 0 was asked for. */
  listRequests(): number;
  /** What list 0 marks revoked. */
  revoked: Set<number>;
  /** The `iat` (seconds) list 0 is signed with. */
  iat: number;
  /** What list 0 answers instead of its list (an outage, a forgery); undefined: the list. */
  answer?: () => Response;
  /** The key it signs with (kid k1). */
  key: SigningKey;
  /** What its JWKS publishes: k1's public JWK unless changed (a withdrawal). */
  jwks: Record<string, unknown>[];
  /** A list JWT for list 0, by default what the issuer itself would sign now. */
  sign(options?: ListOptions): string;
  close(): Promise<void>;
}

/** An auth4agent issuer as another issuer sees it: discovery, JWKS, status list 0. */
async function startFakeIssuer(): Promise<FakeIssuer> {
  const pair = await generateKeyPair();
  const key = { kid: "k1", privateKey: pair.privateKey };
  const publicJwk = { ...pair.publicJwk, kid: "k1", alg: "EdDSA", use: "sig" };
  const requests: string[] = [];
  let issuer = "";
  const fake: FakeIssuer = {
    issuer: "",
    uri: "",
    requests,
    listRequests: () => requests.filter((path) => path === LIST_PATH).length,
    revoked: new Set(),
    iat: T0_S,
    answer: undefined,
    key,
    jwks: [publicJwk],
    sign(options = {}) {
      const iat = options.iat ?? fake.iat;
      const lst = options.lst ??
        encodeStatusList(options.revoked ?? fake.revoked);
      if (!options.key && !options.header && !options.payload) {
        return signStatusList({ uri: fake.uri, iat, lst }, key);
      }
      const signer = options.key ?? key;
      return signCompactJws(
        { typ: STATUS_LIST_TYP, kid: signer.kid, ...options.header },
        {
          sub: fake.uri,
          iat,
          exp: iat + STATUS_LIST_LIFETIME_SECONDS,
          ttl: STATUS_LIST_TTL_SECONDS,
          status_list: { bits: 1, lst },
          ...options.payload,
        },
        signer.privateKey,
      );
    },
    close: () => Promise.resolve(),
  };
  const listResponse = (jwt: string) =>
    new Response(jwt, { headers: { "Content-Type": STATUS_LIST_MEDIA_TYPE } });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      if (path === "/.well-known/openid-configuration") {
        return Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
      }
      if (path === "/jwks") return Response.json({ keys: fake.jwks });
      if (path === LIST_PATH) {
        return fake.answer ? fake.answer() : listResponse(fake.sign());
      }
      // Where a redirect test sends the client: a good list for list 0.
      if (path === MOVED_PATH) return listResponse(fake.sign());
      return new Response("not found", { status: 404 });
    },
  );
  issuer = `http://127.0.0.1:${server.addr.port}`;
  fake.issuer = issuer;
  fake.uri = statusListUri(issuer, 0);
  let closed: Promise<void> | undefined;
  fake.close = () => closed ??= server.shutdown();
  return fake;
}

/** A fake issuer for the length of `fn`, closed after (if `fn` did not). */
async function withIssuer(fn: (fake: FakeIssuer) => Promise<void>) {
  const fake = await startFakeIssuer();
  try {
    await fn(fake);
  } finally {
    await fake.close();
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

/** The lists of `trusted` (fake's issuer unless given), and what they log. */
function statusLists(
  trusted: string | string[],
  options: { fetch?: typeof fetch } = {},
) {
  const log: Record<string, unknown>[] = [];
  const issuers = new ForeignIssuers([trusted].flat(), {
    fetch: options.fetch,
  });
  const lists = new ForeignStatusLists(issuers, {
    fetch: options.fetch,
    log: (line) => log.push(line),
  });
  return { lists, log, issuers };
}

/** A token's `status` claim. */
function claim(uri: string, idx: number): unknown {
  return { status_list: { idx, uri } };
}

/** An `lst` of only `bytes` bytes (a list shorter than ours), nothing set. */
function shortLst(bytes: number): string {
  return base64url(deflateSync(new Uint8Array(bytes)));
}

// --- the claim ---------------------------------------------------------------

Deno.test("foreign status lists: a token without a status claim is not asked about, and nothing is fetched", async () => {
  await withIssuer(async (fake) => {
    fake.revoked = new Set([0]);
    const { fetch, urls } = counting();
    const { lists } = statusLists(fake.issuer, { fetch });
    await lists.requireUnrevoked(fake.issuer, undefined, T0);
    assert.deepEqual(urls, []);
    assert.deepEqual(fake.requests, []);
  });
});

Deno.test("foreign status lists: an index the list leaves clear passes; one it marks is refused", async () => {
  await withIssuer(async (fake) => {
    fake.revoked = new Set([5, STATUS_LIST_SIZE - 1]);
    const { lists } = statusLists(fake.issuer);
    for (const idx of [0, 4, 6, 13, STATUS_LIST_SIZE - 2]) {
      await lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), T0);
    }
    for (const idx of [5, STATUS_LIST_SIZE - 1]) {
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), T0),
        invalid,
        `idx ${idx}`,
      );
    }
    assert.equal(fake.listRequests(), 1);
  });
});

Deno.test("foreign status lists: an index beyond the list is refused", async () => {
  await withIssuer(async (fake) => {
    // 16 bytes: bits 0 to 127, none set.
    fake.answer = () => new Response(fake.sign({ lst: shortLst(16) }));
    const { lists } = statusLists(fake.issuer);
    await lists.requireUnrevoked(fake.issuer, claim(fake.uri, 127), T0);
    for (const idx of [128, 1000, STATUS_LIST_SIZE - 1]) {
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), T0),
        invalid,
        `idx ${idx}`,
      );
    }
  });
});

Deno.test("foreign status lists: a malformed status claim is refused without any request", async () => {
  await withIssuer(async (fake) => {
    const { fetch, urls } = counting();
    const { lists } = statusLists(fake.issuer, { fetch });
    const uri = fake.uri;
    const malformed: unknown[] = [
      null,
      "revoked",
      5,
      true,
      [],
      [{ status_list: { idx: 0, uri } }],
      {},
      { status_list: null },
      { status_list: [] },
      { status_list: `${uri}#0` },
      { status_list: { uri } },
      { status_list: { idx: -1, uri } },
      { status_list: { idx: 1.5, uri } },
      { status_list: { idx: "5", uri } },
      { status_list: { idx: NaN, uri } },
      { status_list: { idx: Infinity, uri } },
      { status_list: { idx: STATUS_LIST_SIZE, uri } },
      { status_list: { idx: 0 } },
      { status_list: { idx: 0, uri: 5 } },
      { status_list: { idx: 0, uri: "not a uri" } },
      { status_list: { idx: 0, uri: LIST_PATH } },
      { status_list: { idx: 0, uri: "" } },
    ];
    for (const status of malformed) {
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, status, T0),
        invalid,
        JSON.stringify(status),
      );
    }
    assert.deepEqual(urls, []);
    assert.deepEqual(fake.requests, []);
  });
});

// --- where the list may be fetched from -------------------------------------

Deno.test("foreign status lists: a status uri off the token issuer's origin is refused without any request", async () => {
  await withIssuer(async (fake) => {
    await withIssuer(async (other) => {
      // Both trusted: another trusted issuer's list is still not this token's.
      const { fetch, urls } = counting();
      const { lists } = statusLists([fake.issuer, other.issuer], { fetch });
      const port = new URL(fake.issuer).port;
      const elsewhere = [
        other.uri,
        `http://127.0.0.1:${Number(port) + 1}${LIST_PATH}`,
        `http://localhost:${port}${LIST_PATH}`,
        `http://[::1]:${port}${LIST_PATH}`,
        `https://127.0.0.1:${port}${LIST_PATH}`,
        `https://status.example${LIST_PATH}`,
      ];
      for (const uri of elsewhere) {
        await assert.rejects(
          lists.requireUnrevoked(fake.issuer, claim(uri, 0), T0),
          invalid,
          uri,
        );
      }
      assert.deepEqual(urls, []);
      assert.deepEqual(fake.requests, []);
      assert.deepEqual(other.requests, []);
    });
  });
});

Deno.test("foreign status lists: a status uri with a query, a fragment or credentials, or plain http off loopback, is refused without any request", async () => {
  await withIssuer(async (fake) => {
    const { fetch, urls } = counting();
    const remote = "http://issuer.example";
    const { lists } = statusLists([fake.issuer, remote], { fetch });
    const host = new URL(fake.issuer).host;
    const refused: [string, string][] = [
      [fake.issuer, `${fake.uri}?x=1`],
      [fake.issuer, `${fake.uri}?`],
      [fake.issuer, `${fake.uri}#0`],
      [fake.issuer, `${fake.uri}#`],
      [fake.issuer, `http://user:pass@${host}${LIST_PATH}`],
      [fake.issuer, `http://user@${host}${LIST_PATH}`],
      // On the issuer's own origin, but plain http to a host that is not this one.
      [remote, statusListUri(remote, 0)],
    ];
    for (const [iss, uri] of refused) {
      await assert.rejects(
        lists.requireUnrevoked(iss, claim(uri, 0), T0),
        invalid,
        uri,
      );
    }
    assert.deepEqual(urls, []);
    assert.deepEqual(fake.requests, []);
  });
});

// --- caching -----------------------------------------------------------------

Deno.test("foreign status lists: a list is held for its ttl; a revocation published meanwhile is seen once it passes", async () => {
  await withIssuer(async (fake) => {
    const { lists } = statusLists(fake.issuer);
    const check = (idx: number, seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), at(seconds));
    await check(5, 0);
    await check(5, 30);
    // Revoked at the issuer: the list held is still believed for its ttl.
    fake.revoked = new Set([5]);
    fake.iat = T0_S + 30;
    await check(5, STATUS_LIST_TTL_SECONDS - 1);
    assert.equal(fake.listRequests(), 1);
    await assert.rejects(check(5, STATUS_LIST_TTL_SECONDS), invalid);
    assert.equal(fake.listRequests(), 2);
    await check(6, STATUS_LIST_TTL_SECONDS + 1);
    assert.equal(fake.listRequests(), 2);
  });
});

Deno.test("foreign status lists: the ttl runs from the list's iat, not from when it was fetched", async () => {
  await withIssuer(async (fake) => {
    const { lists } = statusLists(fake.issuer);
    fake.iat = T0_S - 50;
    await lists.requireUnrevoked(fake.issuer, claim(fake.uri, 5), T0);
    await lists.requireUnrevoked(fake.issuer, claim(fake.uri, 5), at(9));
    assert.equal(fake.listRequests(), 1);
    fake.revoked = new Set([5]);
    fake.iat = T0_S + 10;
    await assert.rejects(
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, 5), at(10)),
      invalid,
    );
    assert.equal(fake.listRequests(), 2);
  });
});

Deno.test("foreign status lists: concurrent checks share one fetch", async () => {
  await withIssuer(async (fake) => {
    fake.revoked = new Set([1]);
    const { lists } = statusLists(fake.issuer);
    const results = await Promise.allSettled(
      Array.from(
        { length: 20 },
        (_, i) =>
          lists.requireUnrevoked(fake.issuer, claim(fake.uri, i % 4), T0),
      ),
    );
    results.forEach((result, i) => {
      if (i % 4 === 1) {
        if (result.status !== "rejected") assert.fail(`check ${i} passed`);
        invalid(result.reason);
      } else if (result.status === "rejected") throw result.reason;
    });
    assert.equal(fake.listRequests(), 1);
  });
});

Deno.test("foreign status lists: concurrent checks while the issuer is down share one failed fetch", async () => {
  await withIssuer(async (fake) => {
    fake.answer = () => new Response("down", { status: 500 });
    const { lists } = statusLists(fake.issuer);
    const results = await Promise.allSettled(
      Array.from(
        { length: 10 },
        () => lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), T0),
      ),
    );
    for (const result of results) {
      if (result.status !== "rejected") assert.fail("a check passed");
      unreachable(result.reason);
    }
    assert.equal(fake.listRequests(), 1);
  });
});

// --- the issuer down -----------------------------------------------------------

/** Ways list 0 cannot be had: each makes the fake answer so (or go away). */
const OUTAGES: [string, (fake: FakeIssuer) => Promise<void>][] = [
  ["a 500", (fake) => {
    fake.answer = () => new Response("down", { status: 500 });
    return Promise.resolve();
  }],
  ["a 404", (fake) => {
    fake.answer = () => new Response("not found", { status: 404 });
    return Promise.resolve();
  }],
  ["connection refused", (fake) => fake.close()],
  ["a list signed by another key under the issuer's kid", async (fake) => {
    const { privateKey } = await generateKeyPair();
    fake.answer = () =>
      new Response(fake.sign({ key: { kid: "k1", privateKey } }));
  }],
  ["a list signed by a kid the issuer does not publish", async (fake) => {
    const { privateKey } = await generateKeyPair();
    fake.answer = () =>
      new Response(fake.sign({ key: { kid: "k2", privateKey } }));
  }],
  ["a list of another typ", (fake) => {
    fake.answer = () => new Response(fake.sign({ header: { typ: "JWT" } }));
    return Promise.resolve();
  }],
  ["a list whose sub is another list", (fake) => {
    fake.answer = () =>
      new Response(
        fake.sign({ payload: { sub: statusListUri(fake.issuer, 1) } }),
      );
    return Promise.resolve();
  }],
  ["an expired list", (fake) => {
    // Issued long before: exp (iat + 600) passed well beyond the leeway.
    fake.answer = () => new Response(fake.sign({ iat: fake.iat - 2_000 }));
    return Promise.resolve();
  }],
  ["a list that is not a JWT", (fake) => {
    fake.answer = () => new Response("not a list");
    return Promise.resolve();
  }],
  ["a body that is not UTF-8", (fake) => {
    fake.answer = () => new Response(new Uint8Array([0xff, 0xfe, 0x2e]));
    return Promise.resolve();
  }],
];

for (const [outage, cause] of OUTAGES) {
  Deno.test(`foreign status lists: the issuer down (${outage}): a held list serves up to its exp, its revocations still applied`, async () => {
    await withIssuer(async (fake) => {
      fake.revoked = new Set([5]);
      const { lists } = statusLists(fake.issuer);
      const check = (idx: number, seconds: number) =>
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), at(seconds));
      await check(1, 0);
      assert.equal(fake.listRequests(), 1);
      await cause(fake);
      fake.iat = T0_S + STATUS_LIST_TTL_SECONDS;
      // Past the ttl: asked again, and the held list answers instead.
      await check(1, STATUS_LIST_TTL_SECONDS);
      await assert.rejects(check(5, STATUS_LIST_TTL_SECONDS + 1), invalid);
      await check(1, STATUS_LIST_LIFETIME_SECONDS - 1);
      if (outage !== "connection refused") {
        assert.ok(fake.listRequests() > 1, "the issuer was asked again");
      }
      // Past its exp the held list is no longer believed: none to be had.
      await assert.rejects(check(1, STATUS_LIST_LIFETIME_SECONDS), unreachable);
      await assert.rejects(
        check(1, STATUS_LIST_LIFETIME_SECONDS + 60),
        unreachable,
      );
    });
  });

  Deno.test(`foreign status lists: the issuer down (${outage}) with no list held: 503`, async () => {
    await withIssuer(async (fake) => {
      await cause(fake);
      const { lists } = statusLists(fake.issuer);
      for (const idx of [0, 5]) {
        await assert.rejects(
          lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), T0),
          unreachable,
          `idx ${idx}`,
        );
      }
    });
  });
}

Deno.test("foreign status lists: with no list held, a failed fetch answers the next 5 s without asking, then the issuer is asked again", async () => {
  await withIssuer(async (fake) => {
    fake.answer = () => new Response("down", { status: 500 });
    const { lists } = statusLists(fake.issuer);
    const check = (seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), at(seconds));
    await assert.rejects(check(0), unreachable);
    assert.equal(fake.listRequests(), 1);
    // Back up, but the failure stands for 5 s.
    fake.answer = undefined;
    await assert.rejects(check(2), unreachable);
    await assert.rejects(check(4), unreachable);
    assert.equal(fake.listRequests(), 1);
    fake.iat = T0_S + 6;
    await check(6);
    assert.equal(fake.listRequests(), 2);
  });
});

Deno.test("foreign status lists: with a list held through an outage, the issuer is asked at most every 5 s, not on every check", async () => {
  await withIssuer(async (fake) => {
    const { lists } = statusLists(fake.issuer);
    const check = (seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), at(seconds));
    await check(0);
    fake.answer = () => new Response("down", { status: 500 });
    const past = STATUS_LIST_TTL_SECONDS;
    await check(past);
    assert.equal(fake.listRequests(), 2);
    for (const later of [1, 2, 3, 4]) await check(past + later);
    assert.equal(fake.listRequests(), 2, "the held list answered meanwhile");
    await check(past + 6);
    assert.equal(fake.listRequests(), 3);
  });
});

Deno.test("foreign status lists: with no list held, a list that does not verify answers the next 5 s without asking again", async () => {
  await withIssuer(async (fake) => {
    const { privateKey } = await generateKeyPair();
    fake.answer = () =>
      new Response(fake.sign({ key: { kid: "k1", privateKey } }));
    const { lists } = statusLists(fake.issuer);
    const check = (seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), at(seconds));
    await assert.rejects(check(0), unreachable);
    await assert.rejects(check(4), unreachable);
    assert.equal(fake.listRequests(), 1);
    fake.answer = undefined;
    fake.iat = T0_S + 6;
    await check(6);
    assert.equal(fake.listRequests(), 2);
  });
});

Deno.test("foreign status lists: a fetched list older than the one held is not taken", async () => {
  await withIssuer(async (fake) => {
    const { lists } = statusLists(fake.issuer);
    const check = (idx: number, seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), at(seconds));
    fake.revoked = new Set([5]);
    fake.iat = T0_S + 10;
    await assert.rejects(check(5, 10), invalid);
    // A replay of an earlier list, from before the revocation.
    fake.revoked = new Set();
    fake.iat = T0_S;
    const past = 10 + STATUS_LIST_TTL_SECONDS + 1;
    await assert.rejects(check(5, past), invalid);
    assert.equal(fake.listRequests(), 2, "the issuer was asked again");
    // Not asked again for 5 s (no storm of asks while it answers old lists).
    fake.iat = T0_S + past + 1;
    await assert.rejects(check(5, past + 1), invalid);
    assert.equal(fake.listRequests(), 2);
    // Then a newer list is taken.
    fake.iat = T0_S + past + 6;
    await check(5, past + 6);
    assert.equal(fake.listRequests(), 3);
  });
});

// --- what is refused and logged ------------------------------------------------

Deno.test("foreign status lists: a list signed by a key the issuer does not publish is refused as unreachable, and logged", async () => {
  await withIssuer(async (fake) => {
    const { privateKey } = await generateKeyPair();
    for (const kid of ["k2", "k1"]) {
      fake.answer = () => new Response(fake.sign({ key: { kid, privateKey } }));
      const { lists, log } = statusLists(fake.issuer);
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), T0),
        unreachable,
        kid,
      );
      assert.ok(
        log.some((line) => line.url === fake.uri && line.level === "warn"),
        `kid ${kid}: a line logged for ${fake.uri}`,
      );
    }
  });
});

Deno.test("foreign status lists: a redirect from the status uri is not followed", async () => {
  await withIssuer(async (fake) => {
    for (const status of [301, 302, 303, 307, 308]) {
      fake.answer = () =>
        Response.redirect(`${fake.issuer}${MOVED_PATH}`, status);
      const { lists } = statusLists(fake.issuer);
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), T0),
        unreachable,
        String(status),
      );
    }
    assert.equal(fake.listRequests(), 5);
    assert.ok(!fake.requests.includes(MOVED_PATH), "the redirect was followed");
  });
});

Deno.test("foreign status lists: a list body larger than MAX_STATUS_LIST_JWS_LENGTH is refused", async () => {
  await withIssuer(async (fake) => {
    const jwt = fake.sign();
    // The list itself is good: only the padding after it makes it too long.
    const padded = (length: number) => () =>
      new Response(jwt + "\n".repeat(length - jwt.length));
    fake.answer = padded(MAX_STATUS_LIST_JWS_LENGTH);
    await statusLists(fake.issuer).lists.requireUnrevoked(
      fake.issuer,
      claim(fake.uri, 0),
      T0,
    );
    for (const length of [MAX_STATUS_LIST_JWS_LENGTH + 1, 1_000_000]) {
      fake.answer = padded(length);
      await assert.rejects(
        statusLists(fake.issuer).lists.requireUnrevoked(
          fake.issuer,
          claim(fake.uri, 0),
          T0,
        ),
        unreachable,
        `${length} bytes`,
      );
    }
  });
});

Deno.test("foreign status lists: an endless list body is cut off and refused", async () => {
  await withIssuer(async (fake) => {
    const jwt = fake.sign();
    let cancelled = false;
    fake.answer = () => {
      let sent = false;
      return new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(
              new TextEncoder().encode(sent ? " ".repeat(4096) : jwt),
            );
            sent = true;
          },
          cancel() {
            cancelled = true;
          },
        }),
      );
    };
    const started = performance.now();
    await assert.rejects(
      statusLists(fake.issuer).lists.requireUnrevoked(
        fake.issuer,
        claim(fake.uri, 0),
        T0,
      ),
      unreachable,
    );
    // Cut off at the cap, not at the fetch's 5 s timeout.
    assert.ok(performance.now() - started < 4_000, "read until the timeout");
    for (let i = 0; i < 100 && !cancelled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(cancelled, "the body was read on");
  });
});

Deno.test("foreign status lists: an older list is never taken, not even by a caller whose clock reads before the last fetch", async () => {
  await withIssuer(async (fake) => {
    const { lists } = statusLists(fake.issuer);
    const check = (idx: number, seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), at(seconds));
    // The newer list (idx 5 revoked), fetched at T0+100.
    fake.revoked = new Set([5]);
    fake.iat = T0_S + 100;
    await assert.rejects(check(5, 100), invalid);
    // The issuer (another replica, a stale cache) now answers an older list.
    fake.revoked = new Set();
    fake.iat = T0_S + 95;
    await assert.rejects(check(5, 101), invalid);
    // A caller whose now reads before that fetch, and everyone after it.
    await assert.rejects(check(5, 99), invalid);
    await assert.rejects(check(5, 102), invalid);
  });
});

Deno.test("foreign status lists: a held list stops standing through an outage once its key has left the issuer's JWKS", async () => {
  await withIssuer(async (fake) => {
    const { lists, issuers } = statusLists(fake.issuer);
    const check = (seconds: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, 0), at(seconds));
    await check(0);
    // The issuer withdraws k1 (a compromise) and its lists are out of reach.
    fake.jwks = [];
    fake.answer = () => new Response("down", { status: 500 });
    // Through the outage, still published as far as this server knows.
    await check(STATUS_LIST_TTL_SECONDS);
    // Its keys refetched (held 5 minutes) for another token: k1 is gone.
    await issuers.key({ iss: fake.issuer, kid: "k2", alg: "EdDSA" }, at(301))
      .catch(() => {});
    await assert.rejects(check(302), unreachable);
  });
});

Deno.test("foreign status lists: a list of 2 bits a token (the draft's example) refuses revoked, suspended and the issuer's own statuses, takes valid ones", async () => {
  await withIssuer(async (fake) => {
    // status[0..11] = 1 2 0 3 0 1 0 1 1 2 3 3 (§4.1).
    fake.answer = () =>
      new Response(
        fake.sign({
          payload: { status_list: { bits: 2, lst: "eNo76fITAAPfAgc" } },
        }),
      );
    const { lists } = statusLists(fake.issuer);
    const check = (idx: number) =>
      lists.requireUnrevoked(fake.issuer, claim(fake.uri, idx), T0);
    for (const idx of [2, 4, 6]) await check(idx);
    for (const idx of [0, 1, 3, 9, 11]) {
      await assert.rejects(check(idx), invalid, `idx ${idx}`);
    }
    await assert.rejects(check(12), invalid, "beyond the list");
  });
});

for (const alg of ["ES256", "RS256"] as const) {
  Deno.test(`foreign status lists: another issuer's list signed with ${alg} is read; one whose signature fails is not`, async () => {
    await withIssuer(async (fake) => {
      const { privateKey, publicKey } = await jose.generateKeyPair(alg, {
        extractable: true,
      });
      fake.jwks = [{ ...await jose.exportJWK(publicKey), kid: "p1", alg }];
      const sign = (key: CryptoKey) =>
        new jose.SignJWT({
          sub: fake.uri,
          iat: T0_S,
          exp: T0_S + STATUS_LIST_LIFETIME_SECONDS,
          ttl: STATUS_LIST_TTL_SECONDS,
          status_list: { bits: 1, lst: encodeStatusList([5]) },
        }).setProtectedHeader({ alg, kid: "p1", typ: "statuslist+jwt" })
          .sign(key);
      let listJwt = await sign(privateKey);
      fake.answer = () => new Response(listJwt);
      const { lists } = statusLists(fake.issuer);
      await lists.requireUnrevoked(fake.issuer, claim(fake.uri, 4), T0);
      await assert.rejects(
        lists.requireUnrevoked(fake.issuer, claim(fake.uri, 5), T0),
        invalid,
      );
      // A list signed by another key of the same kind, under the same kid.
      listJwt = await sign(
        (await jose.generateKeyPair(alg, { extractable: true })).privateKey,
      );
      const fresh = statusLists(fake.issuer).lists;
      await assert.rejects(
        fresh.requireUnrevoked(fake.issuer, claim(fake.uri, 4), T0),
        unreachable,
      );
    });
  });
}
