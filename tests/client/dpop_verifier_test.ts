/**
 * TokenVerifier and DPoP-bound tokens (RFC 9449 §7): a bound token only with
 * a fresh proof by its key, made for this request and this token, each proof
 * once; an unbound token never under the DPoP scheme; `verifyRequest` reads
 * either scheme from a request and answers refusals with their challenge.
 */
import assert from "node:assert/strict";
import { IssuerClient, type Jwks } from "../../src/client/issuer_client.ts";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { signAccessToken } from "../../src/core/access_token.ts";
import { createDpopProof } from "../../src/core/dpop.ts";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";
import {
  generateKeyPair,
  type KeyPair,
  thumbprint,
} from "../../src/core/keys.ts";
import { testClaims } from "../helpers/claims.ts";
import { issuerAnswer } from "../helpers/fake_issuer.ts";

const ISSUER = "https://issuer.test";
const NOW = new Date("2030-01-01T00:00:00Z");
const AUDIENCE = "https://api.example.com";
const ORIGIN = "https://api.example.com";
const URL_CALLED = `${ORIGIN}/payments`;

interface World {
  verifier: (capacity?: number) => TokenVerifier;
  signingKey: { kid: string; privateKey: CryptoKey };
  holder: KeyPair;
  bound: string;
  unbound: string;
}

async function world(): Promise<World> {
  const issuerKey = await generateKeyPair();
  const holder = await generateKeyPair();
  const jwks: Jwks = { keys: [{ ...issuerKey.publicJwk, kid: "k1" }] };
  const signingKey = { kid: "k1", privateKey: issuerKey.privateKey };
  const bound = await signAccessToken(
    testClaims(ISSUER, NOW, {
      cnf: { jkt: await thumbprint(holder.publicJwk) },
    }),
    signingKey,
  );
  const unbound = await signAccessToken(testClaims(ISSUER, NOW), signingKey);
  const fetch = (input: string | URL | Request) =>
    Promise.resolve(issuerAnswer(ISSUER, input, jwks));
  return {
    verifier: (capacity) =>
      new TokenVerifier(new IssuerClient(ISSUER, { fetch }), undefined, {
        dpopProofCapacity: capacity,
      }),
    signingKey,
    holder,
    bound,
    unbound,
  };
}

function proofFor(
  key: KeyPair,
  token: string,
  options: { method?: string; url?: string; now?: Date } = {},
): string {
  return createDpopProof({
    ...key,
    method: options.method ?? "GET",
    url: options.url ?? URL_CALLED,
    accessToken: token,
    now: options.now ?? NOW,
  });
}

function dpop(proof: string | null, method = "GET", url = URL_CALLED) {
  return { proof, method, url };
}

async function refused(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<Auth4AgentError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => {
    caught = error;
    return error instanceof Auth4AgentError && error.code === code;
  });
  return caught as Auth4AgentError;
}

Deno.test("DPoP verifier: a bound token with a proof by its key is taken, and its binding returned", async () => {
  const w = await world();
  const claims = await w.verifier().verify(w.bound, {
    audience: AUDIENCE,
    now: NOW,
    dpop: dpop(proofFor(w.holder, w.bound)),
  });
  assert.equal(claims.cnf?.jkt, await thumbprint(w.holder.publicJwk));
});

Deno.test("DPoP verifier: the same proof twice is refused; a new proof is taken", async () => {
  const w = await world();
  const verifier = w.verifier();
  const proof = proofFor(w.holder, w.bound);
  const options = { audience: AUDIENCE, now: NOW, dpop: dpop(proof) };
  await verifier.verify(w.bound, options);
  await refused(verifier.verify(w.bound, options), "ERR_DPOP_PROOF_INVALID");
  await verifier.verify(w.bound, {
    ...options,
    dpop: dpop(proofFor(w.holder, w.bound)),
  });
});

Deno.test("DPoP verifier: a bound token without a proof, or with the Bearer scheme, is refused", async () => {
  const w = await world();
  await refused(
    w.verifier().verify(w.bound, { audience: AUDIENCE, now: NOW }),
    "ERR_TOKEN_INVALID",
  );
  await refused(
    w.verifier().verify(w.bound, {
      audience: AUDIENCE,
      now: NOW,
      dpop: dpop(null),
    }),
    "ERR_DPOP_PROOF_INVALID",
  );
});

Deno.test("DPoP verifier: a proof by another key, for another token, method or URL, or too old, is refused", async () => {
  const w = await world();
  const other = await generateKeyPair();
  const cases: [string, ReturnType<typeof dpop>][] = [
    ["another key", dpop(proofFor(other, w.bound))],
    ["another token", dpop(proofFor(w.holder, w.unbound))],
    ["another method", dpop(proofFor(w.holder, w.bound), "POST")],
    [
      "another URL",
      dpop(proofFor(w.holder, w.bound), "GET", `${URL_CALLED}/refunds`),
    ],
    [
      "61 s old",
      dpop(proofFor(w.holder, w.bound, {
        now: new Date(NOW.getTime() - 61_000),
      })),
    ],
  ];
  for (const [what, given] of cases) {
    await refused(
      w.verifier().verify(w.bound, {
        audience: AUDIENCE,
        now: NOW,
        dpop: given,
      }),
      "ERR_DPOP_PROOF_INVALID",
    ).catch((error) => assert.fail(`${what}: ${error}`));
  }
});

Deno.test("DPoP verifier: an unbound token under the DPoP scheme is refused", async () => {
  const w = await world();
  await refused(
    w.verifier().verify(w.unbound, {
      audience: AUDIENCE,
      now: NOW,
      dpop: dpop(proofFor(w.holder, w.unbound)),
    }),
    "ERR_TOKEN_INVALID",
  );
});

Deno.test("DPoP verifier: full of proofs in force it refuses new ones, forgets none, and takes them again once they age out", async () => {
  const w = await world();
  const verifier = w.verifier(1);
  const first = proofFor(w.holder, w.bound);
  const options = { audience: AUDIENCE, now: NOW, dpop: dpop(first) };
  await verifier.verify(w.bound, options);
  await refused(
    verifier.verify(w.bound, {
      ...options,
      dpop: dpop(proofFor(w.holder, w.bound)),
    }),
    "ERR_DPOP_REPLAY_CACHE_FULL",
  );
  await refused(verifier.verify(w.bound, options), "ERR_DPOP_PROOF_INVALID");
  const later = new Date(NOW.getTime() + 61_000);
  await verifier.verify(w.bound, {
    audience: AUDIENCE,
    now: later,
    dpop: dpop(proofFor(w.holder, w.bound, { now: later })),
  });
});

Deno.test("DPoP verifyRequest: both schemes, case-insensitive, with the URL the client called", async () => {
  const w = await world();
  const verifier = w.verifier();
  const bearer = new Request(URL_CALLED, {
    headers: { Authorization: `Bearer ${w.unbound}` },
  });
  assert.equal(
    (await verifier.verifyRequest(bearer, { audience: AUDIENCE, now: NOW }))
      .jti,
    "t1",
  );
  // Behind a proxy the request arrives at another URL; `url` names the one called.
  const proxied = new Request("http://10.0.0.7:8080/payments?page=2", {
    headers: {
      Authorization: `dpop ${w.bound}`,
      DPoP: proofFor(w.holder, w.bound),
    },
  });
  const claims = await verifier.verifyRequest(proxied, {
    audience: AUDIENCE,
    now: NOW,
    url: `${URL_CALLED}?page=2`,
  });
  assert.ok(claims.cnf);
});

Deno.test("DPoP verifyRequest: refusals carry the challenge of the scheme used", async () => {
  const w = await world();
  const verifier = w.verifier();
  const cases: [Record<string, string>, ErrorCode, RegExp][] = [
    [{}, "ERR_TOKEN_INVALID", /^Bearer, DPoP algs="EdDSA Ed25519 ES256"$/],
    [
      { Authorization: "Basic dXNlcjpwYXNz" },
      "ERR_TOKEN_INVALID",
      /^Bearer, DPoP algs=/,
    ],
    [{ Authorization: "Bearer" }, "ERR_TOKEN_INVALID", /^Bearer, DPoP/],
    [
      { Authorization: `Bearer ${w.bound}` },
      "ERR_TOKEN_INVALID",
      /^Bearer error="invalid_token"$/,
    ],
    [
      { Authorization: `DPoP ${w.bound}` },
      "ERR_DPOP_PROOF_INVALID",
      /^DPoP error="invalid_dpop_proof", algs="EdDSA Ed25519 ES256"$/,
    ],
    [
      {
        Authorization: `DPoP ${w.bound}`,
        DPoP: proofFor(w.holder, w.bound, { url: "https://elsewhere.test/" }),
      },
      "ERR_DPOP_PROOF_INVALID",
      /^DPoP error="invalid_dpop_proof"/,
    ],
  ];
  for (const [headers, code, challenge] of cases) {
    const error = await refused(
      verifier.verifyRequest(new Request(URL_CALLED, { headers }), {
        audience: AUDIENCE,
        now: NOW,
        origin: ORIGIN,
      }),
      code,
    );
    assert.match(error.headers["WWW-Authenticate"] ?? "", challenge);
    // A resource server answers 401 for every one of them (RFC 9449 §7.1).
    assert.equal(error.status, 401);
  }
});

Deno.test("DPoP verifyRequest: the URL a proof must name is this API's origin with the request's path, never the client's Host header", async () => {
  const w = await world();
  const verifier = w.verifier();
  // Made for another API that takes the same audience, replayed here with
  // its Host header: request.url would name the other API.
  const replayed = () =>
    new Request("https://api1.example.com/payments", {
      headers: {
        Authorization: `DPoP ${w.bound}`,
        DPoP: proofFor(w.holder, w.bound, {
          url: "https://api1.example.com/payments",
        }),
      },
    });
  await refused(
    verifier.verifyRequest(replayed(), {
      audience: AUDIENCE,
      now: NOW,
      origin: ORIGIN,
    }),
    "ERR_DPOP_PROOF_INVALID",
  );
  // Without an origin (or url) a DPoP request cannot be checked: a usage error.
  await refused(
    verifier.verifyRequest(replayed(), { audience: AUDIENCE, now: NOW }),
    "ERR_USAGE",
  );
});

Deno.test("DPoP verifier: one client's proofs fill a tenth of the memory at most; others are still taken", async () => {
  const w = await world();
  const verifier = w.verifier(20);
  for (let i = 0; i < 2; i++) {
    await verifier.verify(w.bound, {
      audience: AUDIENCE,
      now: NOW,
      dpop: dpop(proofFor(w.holder, w.bound)),
    });
  }
  await refused(
    verifier.verify(w.bound, {
      audience: AUDIENCE,
      now: NOW,
      dpop: dpop(proofFor(w.holder, w.bound)),
    }),
    "ERR_DPOP_REPLAY_CACHE_FULL",
  );
  // Another client (another agent, its own key) is not held back.
  const other = await generateKeyPair();
  const otherToken = await signAccessToken(
    testClaims(ISSUER, NOW, {
      sub: "did:agent:agents.example.com:fedcba9876543210fedcba9876543210",
      client_id:
        "did:agent:agents.example.com:fedcba9876543210fedcba9876543210",
      cnf: { jkt: await thumbprint(other.publicJwk) },
    }),
    w.signingKey,
  );
  await verifier.verify(otherToken, {
    audience: AUDIENCE,
    now: NOW,
    dpop: dpop(proofFor(other, otherToken)),
  });
});

Deno.test("DPoP verifyRequest: a path starting with // cannot name another host", async () => {
  const w = await world();
  const request = new Request(
    "https://api.example.com//api1.example.com/payments",
    {
      headers: {
        Authorization: `DPoP ${w.bound}`,
        DPoP: proofFor(w.holder, w.bound, {
          url: "https://api1.example.com/payments",
        }),
      },
    },
  );
  await refused(
    w.verifier().verifyRequest(request, {
      audience: AUDIENCE,
      now: NOW,
      origin: ORIGIN,
    }),
    "ERR_DPOP_PROOF_INVALID",
  );
});

Deno.test("TokenVerifier: with no keys, a fetch failing slowly (packets dropped) still answers the 5 s after it failed", async () => {
  let fetches = 0;
  const slowFailure = async () => {
    fetches++;
    await new Promise((resolve) => setTimeout(resolve, 100));
    throw new TypeError("connection timed out");
  };
  const verifier = new TokenVerifier(
    new IssuerClient(ISSUER, { fetch: slowFailure }),
  );
  const { unbound } = await world();
  await refused(
    verifier.verify(unbound, { audience: AUDIENCE, now: NOW }),
    "ERR_ISSUER_UNREACHABLE",
  );
  // 5.05 s after the first call began, 4.95 s after it failed: no new fetch.
  await refused(
    verifier.verify(unbound, {
      audience: AUDIENCE,
      now: new Date(NOW.getTime() + 5_050),
    }),
    "ERR_ISSUER_UNREACHABLE",
  );
  assert.equal(fetches, 1);
});
