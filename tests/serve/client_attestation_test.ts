/**
 * Client attestation (draft-ietf-oauth-attestation-based-client-auth)
 * through the real handler, with a fake attester on 127.0.0.1 (OpenID
 * discovery and JWKS over real HTTP): the OAuth-Client-Attestation and
 * OAuth-Client-Attestation-PoP headers beside the agent's own client
 * authentication, the grant's `require_attestation`, the PoP's single use (by
 * jti, or by a challenge from the challenge endpoint), the `attestation`
 * claim in the token and in introspection, the metadata, and every refusal
 * with its status and stable code. PoPs are made with jose, as a third-party
 * client would, and through IssuerClient.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { createDpopProof } from "../../src/core/dpop.ts";
import { randomToken } from "../../src/core/encoding.ts";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  CLIENT_ATTESTER,
  ForeignIssuers,
} from "../../src/serve/foreign_issuers.ts";
import type { AuditEntry } from "../../src/store/store.ts";
import {
  type FakePlatform,
  startFakePlatform,
} from "../helpers/fake_platform.ts";
import {
  asCaller,
  assertError,
  assertNoInternalErrors,
  assertOk,
  body,
  challengeNonce,
  clientAuth,
  createAgent,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  postForm,
  send,
  setup,
  signedRequest,
  type TestAgent,
  type TestOperator,
  tokenParams,
  withFixture,
} from "./helpers.ts";

const TOKEN = "/oauth/token";
const ATTESTATION = "OAuth-Client-Attestation";
const POP = "OAuth-Client-Attestation-PoP";
const CHALLENGE_HEADER = "OAuth-Client-Attestation-Challenge";
const ATTESTATION_TYP = "oauth-client-attestation+jwt";
const POP_TYP = "oauth-client-attestation-pop+jwt";
const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token";
const SCOPES = ["read:data", "write:data"];

/** The key a client instance holds, which its attestation names (`cnf.jwk`). */
interface Instance {
  privateKey: CryptoKey;
  publicJwk: jose.JWK;
  alg: string;
}

async function instanceKey(
  alg: "ES256" | "EdDSA" = "ES256",
): Promise<Instance> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, {
    extractable: true,
  });
  return { privateKey, publicJwk: await jose.exportJWK(publicKey), alg };
}

interface Attested {
  fx: Fixture;
  attester: FakePlatform;
  operator: TestOperator;
  agent: TestAgent;
  /** The agent instance's key (ES256, made with jose). */
  instance: Instance;
}

/**
 * A fake attester the fixture trusts (with `alsoTrusted`), a verified
 * operator and an agent granted SCOPES; with `require`, the grant asks for an
 * attestation by the attester.
 */
async function withAttester(
  body: (w: Attested) => Promise<void>,
  options: {
    alsoTrusted?: string[];
    require?: boolean;
    tokenTtl?: number;
    workloadIssuers?: ForeignIssuers;
  } = {},
): Promise<void> {
  const attester = await startFakePlatform({ alg: "ES256" });
  try {
    await withFixture(async (fx) => {
      const { operator, agent } = await setup(fx, SCOPES);
      if (options.require) {
        await fx.client.setAgentScopes(agent.did, SCOPES, operator.signer, {
          requireAttestation: [attester.issuer],
        });
      }
      await body({
        fx,
        attester,
        operator,
        agent,
        instance: await instanceKey(),
      });
    }, {
      clientAttesters: new ForeignIssuers(
        [attester.issuer, ...options.alsoTrusted ?? []],
        { role: CLIENT_ATTESTER },
      ),
      tokenTtl: options.tokenTtl,
      workloadIssuers: options.workloadIssuers,
    });
  } finally {
    await attester.close();
  }
}

/** A client attestation of `sub` (the agent's DID unless given) bound to `instance`, by the fixture's clock. */
function attest(
  w: Attested,
  options: {
    claims?: Record<string, unknown>;
    mint?: Parameters<FakePlatform["mint"]>[1];
    attester?: FakePlatform;
    instance?: { publicJwk: jose.JWK | Record<string, unknown> };
    sub?: string;
  } = {},
): Promise<string> {
  return (options.attester ?? w.attester).mint(
    {
      sub: options.sub ?? w.agent.did,
      cnf: { jwk: (options.instance ?? w.instance).publicJwk },
      ...options.claims,
    },
    { typ: ATTESTATION_TYP, now: w.fx.clock.now(), ...options.mint },
  );
}

/** A PoP as a third-party client makes it: jose, typ oauth-client-attestation-pop+jwt. */
async function pop(
  fx: Fixture,
  instance: Instance,
  claims: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  const iat = nowSeconds(fx.clock.now());
  return await new jose.SignJWT({
    aud: ISSUER,
    jti: randomToken(16),
    iat,
    ...claims,
  })
    .setProtectedHeader({ alg: instance.alg, typ: POP_TYP, ...header })
    .sign(instance.privateKey);
}

/** A compact JWS with this header and payload and an empty signature. */
function unsecured(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  const part = (value: unknown) =>
    jose.base64url.encode(new TextEncoder().encode(JSON.stringify(value)));
  return `${part(header)}.${part(payload)}.`;
}

function headers(attestation: string, proof: string): Record<string, string> {
  return { [ATTESTATION]: attestation, [POP]: proof };
}

/** A client_credentials request of the agent (challenge flow) with these headers. */
async function tokenRequest(
  fx: Fixture,
  agent: TestAgent,
  extraHeaders: Record<string, string> = {},
  extra: Record<string, string> = {},
): Promise<{ response: Response; params: Record<string, string> }> {
  const nonce = await challengeNonce(fx, agent.did);
  const params = await tokenParams(fx, agent, { nonce, extra });
  return {
    response: await postForm(fx, TOKEN, params, extraHeaders),
    params,
  };
}

/** A full attested request of the agent: a fresh attestation and PoP. */
async function attestedRequest(
  w: Attested,
  extra: Record<string, string> = {},
): Promise<Response> {
  const { response } = await tokenRequest(
    w.fx,
    w.agent,
    headers(await attest(w), await pop(w.fx, w.instance)),
    extra,
  );
  return response;
}

interface TokenAnswer {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope: string;
  issued_token_type?: string;
}

async function audits(fx: Fixture): Promise<AuditEntry[]> {
  return await fx.store.listAudit({ limit: 10_000 });
}

async function thumbprint(jwk: jose.JWK): Promise<string> {
  return await jose.calculateJwkThumbprint(jwk);
}

/** Asserts that `promise` rejects with an Auth4AgentError of `code`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
): Promise<void> {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof Auth4AgentError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  });
}

const scopesPath = (did: string) => `/v1/agents/${did}/scopes`;

// ---------------------------------------------------------------------------
// Without a requirement

Deno.test("client attestation: no attestation and no requirement gets a token as before, without an attestation claim", async () => {
  await withAttester(async ({ fx, agent, operator }) => {
    const token = await issueToken(fx, agent);
    const claims = jose.decodeJwt(token);
    assert.equal(claims.attestation, undefined);
    assert.equal(claims.sub, agent.did);
    const viaClient = await fx.client.issueToken(
      agent.did,
      agent.pair.privateKey,
      {},
    );
    assert.equal(jose.decodeJwt(viaClient.access_token).attestation, undefined);
    const grant = await fx.client.agentScopes(agent.did, operator.signer);
    assert.deepEqual(grant.require_attestation, []);
    assertNoInternalErrors(fx);
  });
  // A server that trusts no attester: the same.
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    assert.equal(jose.decodeJwt(token).attestation, undefined);
  });
});

// ---------------------------------------------------------------------------
// A grant that asks for an attestation

Deno.test("client attestation: a grant that asks for one refuses a request without it; with a valid attestation and PoP the token is attested and ends with the attestation", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester, instance } = w;
    const { response } = await tokenRequest(fx, agent);
    const refused = await assertError(
      response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
      "invalid_client_attestation",
    );
    assert.ok(
      String(refused.error_description).includes(attester.issuer),
      String(refused.error_description),
    );

    // An attestation ending in 5 minutes, with a 15-minute token lifetime.
    const attestationExp = nowSeconds(fx.clock.now()) + 300;
    const attestation = await attest(w, {
      claims: { exp: attestationExp },
    });
    const answer = await assertOk<TokenAnswer>(
      (await tokenRequest(
        fx,
        agent,
        headers(attestation, await pop(fx, instance)),
      ))
        .response,
    );
    assert.equal(answer.token_type, "Bearer");
    assert.equal(answer.expires_in, 300);
    const { payload } = await jose.jwtVerify(
      answer.access_token,
      fx.keys.signingKey(fx.clock.now()).publicKey,
      { algorithms: ["EdDSA"], typ: "at+jwt", currentDate: fx.clock.now() },
    );
    assert.deepEqual(payload.attestation, {
      iss: attester.issuer,
      jkt: await thumbprint(instance.publicJwk),
    });
    assert.ok(
      (payload.exp as number) <= attestationExp,
      "the token ends by the attestation's end",
    );
    assert.equal(payload.exp, attestationExp);
    assert.equal(payload.cnf, undefined);

    // A resource server that asks for this attester takes it; another refuses.
    const verifier = new TokenVerifier(fx.client);
    const verified = await verifier.verify(answer.access_token, {
      audience: ISSUER,
      attesters: [attester.issuer],
      now: fx.clock.now(),
    });
    assert.equal(verified.attestation?.iss, attester.issuer);
    await rejectsWith(
      verifier.verify(answer.access_token, {
        audience: ISSUER,
        attesters: ["https://other-attester.example"],
        now: fx.clock.now(),
      }),
      "ERR_TOKEN_NOT_ATTESTED",
    );
    assertNoInternalErrors(fx);
  }, { require: true, tokenTtl: 900 });
});

Deno.test("client attestation: IssuerClient.issueToken sends the attestation and a fresh PoP by the Ed25519 instance key", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester } = w;
    await rejectsWith(
      fx.client.issueToken(agent.did, agent.pair.privateKey, {}),
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    const instance = await generateKeyPair();
    const jwt = await attest(w, { instance });
    const request = { attestation: { jwt, privateKey: instance.privateKey } };
    const first = await fx.client.issueToken(
      agent.did,
      agent.pair.privateKey,
      request,
    );
    assert.deepEqual(jose.decodeJwt(first.access_token).attestation, {
      iss: attester.issuer,
      jkt: await thumbprint(instance.publicJwk),
    });
    // The same attestation again: a new PoP each request.
    const second = await fx.client.issueToken(
      agent.did,
      agent.pair.privateKey,
      { ...request, scope: "read:data" },
    );
    assert.equal(second.scope, "read:data");
    assert.equal(
      (jose.decodeJwt(second.access_token).attestation as { iss: string }).iss,
      attester.issuer,
    );
    // The agent's own key is an instance key as good as any: attested to it.
    const own = await fx.client.issueToken(agent.did, agent.pair.privateKey, {
      attestation: {
        jwt: await attest(w, { instance: agent.pair }),
        privateKey: agent.pair.privateKey,
      },
    });
    assert.equal(
      (jose.decodeJwt(own.access_token).attestation as { jkt: string }).jkt,
      await thumbprint(agent.pair.publicJwk),
    );
  }, { require: true });
});

Deno.test("client attestation: an attestation by a trusted attester that the grant does not name is ERR_CLIENT_ATTESTATION_REQUIRED; a grant naming both takes either", async () => {
  const other = await startFakePlatform({ alg: "EdDSA" });
  try {
    await withAttester(async (w) => {
      const { fx, agent, operator, attester, instance } = w;
      const byOther = await attest(w, { attester: other });
      const { response } = await tokenRequest(
        fx,
        agent,
        headers(byOther, await pop(fx, instance)),
      );
      const refused = await assertError(
        response,
        400,
        "ERR_CLIENT_ATTESTATION_REQUIRED",
        "invalid_client_attestation",
      );
      assert.ok(
        String(refused.error_description).includes(other.issuer),
        String(refused.error_description),
      );

      await fx.client.setAgentScopes(agent.did, SCOPES, operator.signer, {
        requireAttestation: [attester.issuer, other.issuer],
      });
      for (const by of [other, attester]) {
        const answer = await assertOk<TokenAnswer>(
          (await tokenRequest(
            fx,
            agent,
            headers(await attest(w, { attester: by }), await pop(fx, instance)),
          )).response,
        );
        assert.equal(
          (jose.decodeJwt(answer.access_token).attestation as { iss: string })
            .iss,
          by.issuer,
        );
      }
    }, { require: true, alsoTrusted: [other.issuer] });
  } finally {
    await other.close();
  }
});

// ---------------------------------------------------------------------------
// Checked whenever it comes

Deno.test("client attestation: a bad attestation or PoP is refused even when none is asked for, and consumes nothing (the same request without it then succeeds)", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester, instance } = w;
    const now = nowSeconds(fx.clock.now());
    const stranger = await instanceKey();
    const edStranger = await instanceKey("EdDSA");
    const otherAttesterKey = (await jose.generateKeyPair("ES256")).privateKey;
    const otherAgent = await createAgent(fx, w.operator);
    const privateJwk = await jose.exportJWK(instance.privateKey);
    const good = () => attest(w);
    const goodPop = () => pop(fx, instance);
    const bad: [string, () => Promise<[string, string]>, ErrorCode][] = [
      [
        "attestation signed by a key its attester does not publish",
        async () => [
          await attest(w, { mint: { key: otherAttesterKey } }),
          await goodPop(),
        ],
        "ERR_CLIENT_ATTESTATION_INVALID",
      ],
      ["attestation typed JWT", async () => [
        await attest(w, { mint: { typ: "JWT" } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation without typ", async () => [
        await attester.mint(
          { sub: agent.did, cnf: { jwk: instance.publicJwk } },
          { now: fx.clock.now() },
        ),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation by HS256 (a MAC)", async () => [
        await attest(w, {
          mint: {
            alg: "HS256",
            key: new Uint8Array(32).fill(7) as unknown as CryptoKey,
          },
        }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation of another agent", async () => [
        await attest(w, { sub: otherAgent.did }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation without sub", async () => [
        await attest(w, { claims: { sub: undefined } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation without cnf", async () => [
        await attest(w, { claims: { cnf: undefined } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation whose cnf.jwk holds the private key", async () => [
        await attest(w, { instance: { publicJwk: privateJwk } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation without exp", async () => [
        await attest(w, { claims: { exp: undefined } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation without iat", async () => [
        await attest(w, { claims: { iat: undefined } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation issued in the future", async () => [
        await attest(w, { claims: { iat: now + 600, exp: now + 1200 } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["attestation expired (beyond the leeway)", async () => [
        await attest(w, { claims: { iat: now - 700, exp: now - 60 } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_STALE"],
      ["attestation expired within the leeway", async () => [
        await attest(w, { claims: { iat: now - 700, exp: now - 10 } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_STALE"],
      ["attestation issued more than a day ago", async () => [
        await attest(w, { claims: { iat: now - 86_401, exp: now + 600 } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_STALE"],
      [
        "not a JWS",
        async () => ["not-an-attestation", await goodPop()],
        "ERR_CLIENT_ATTESTATION_INVALID",
      ],
      ["attestation naming a kid its attester does not publish", async () => [
        await attest(w, { mint: { kid: "unknown-kid" } }),
        await goodPop(),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP unsecured (alg none)", async () => [
        await good(),
        unsecured({ alg: "none", typ: POP_TYP }, {
          aud: ISSUER,
          jti: randomToken(16),
          iat: now,
        }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      [
        "PoP by an Ed25519 key where the attestation names a P-256 one",
        async () => [
          await good(),
          await pop(fx, edStranger),
        ],
        "ERR_CLIENT_ATTESTATION_INVALID",
      ],
      ["PoP signed by a key the attestation does not name", async () => [
        await good(),
        await pop(fx, stranger),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP for another audience", async () => [
        await good(),
        await pop(fx, instance, { aud: "https://other-issuer.example" }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP for two audiences", async () => [
        await good(),
        await pop(fx, instance, { aud: [ISSUER, "https://other.example"] }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP for the token endpoint rather than the issuer", async () => [
        await good(),
        await pop(fx, instance, { aud: `${ISSUER}${TOKEN}` }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP older than 60 s (and the leeway)", async () => [
        await good(),
        await pop(fx, instance, { iat: now - 120 }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP issued in the future", async () => [
        await good(),
        await pop(fx, instance, { iat: now + 120 }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP without iat", async () => [
        await good(),
        await pop(fx, instance, { iat: undefined }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP without jti", async () => [
        await good(),
        await pop(fx, instance, { jti: undefined }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP typed as a DPoP proof", async () => [
        await good(),
        await pop(fx, instance, {}, { typ: "dpop+jwt" }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      ["PoP with an empty challenge", async () => [
        await good(),
        await pop(fx, instance, { challenge: "" }),
      ], "ERR_CLIENT_ATTESTATION_INVALID"],
      [
        "the attestation in the PoP header and the PoP in the attestation's",
        async () => [
          await goodPop(),
          await good(),
        ],
        "ERR_CLIENT_ATTESTATION_INVALID",
      ],
    ];
    for (const [what, make, code] of bad) {
      const [attestation, proof] = await make();
      const { response, params } = await tokenRequest(
        fx,
        agent,
        headers(attestation, proof),
      );
      await assertError(
        response,
        400,
        code,
        code === "ERR_CLIENT_ATTESTATION_STALE"
          ? "use_fresh_attestation"
          : "invalid_client_attestation",
      ).catch((error) => assert.fail(`${what}: ${error}`));
      // The agent's challenge was not consumed: the same request, without
      // the bad attestation (none is asked for), goes through.
      const answer = await assertOk<TokenAnswer>(
        await postForm(fx, TOKEN, params),
      ).catch((error) => assert.fail(`${what}, then without it: ${error}`));
      assert.equal(jose.decodeJwt(answer.access_token).attestation, undefined);
    }

    // The same with an assertion single-use by its jti (no challenge).
    const params = await tokenParams(fx, agent);
    await assertError(
      await postForm(
        fx,
        TOKEN,
        params,
        headers(await good(), await pop(fx, stranger)),
      ),
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    await assertOk(await postForm(fx, TOKEN, params));

    // Each refusal was audited as denied, with its code; no token recorded for them.
    const denied = (await audits(fx)).filter((entry) =>
      entry.action === "token.issue" && entry.outcome === "denied"
    );
    assert.equal(denied.length, bad.length + 1);
    for (const entry of denied) {
      assert.equal(entry.actor, agent.did);
      assert.match(
        entry.reason ?? "",
        /^ERR_CLIENT_ATTESTATION_(INVALID|STALE)$/,
      );
    }
    const issued = (await audits(fx)).filter((entry) =>
      entry.action === "token.issue" && entry.outcome === "success"
    );
    assert.equal(issued.length, bad.length + 1);
    assertNoInternalErrors(fx);
  });
});

Deno.test("client attestation: an attester the server does not trust is ERR_CLIENT_ATTESTATION_INVALID, and is not asked for keys", async () => {
  const untrusted = await startFakePlatform({ alg: "ES256" });
  try {
    await withAttester(async (w) => {
      const { fx, agent, instance } = w;
      const { response, params } = await tokenRequest(
        fx,
        agent,
        headers(
          await attest(w, { attester: untrusted }),
          await pop(fx, instance),
        ),
      );
      const refused = await assertError(
        response,
        400,
        "ERR_CLIENT_ATTESTATION_INVALID",
        "invalid_client_attestation",
      );
      assert.ok(
        String(refused.error_description).includes(untrusted.issuer),
        String(refused.error_description),
      );
      assert.deepEqual(untrusted.requests, [], "never fetched");
      await assertOk(await postForm(fx, TOKEN, params));
    });
  } finally {
    await untrusted.close();
  }
});

Deno.test("client attestation: a trusted attester that cannot be reached is 503 ERR_CLIENT_ATTESTER_UNREACHABLE", async () => {
  const gone = await startFakePlatform({ alg: "ES256" });
  await gone.close();
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const { response, params } = await tokenRequest(
      fx,
      agent,
      headers(await attest(w, { attester: gone }), await pop(fx, instance)),
    );
    await assertError(
      response,
      503,
      "ERR_CLIENT_ATTESTER_UNREACHABLE",
      "temporarily_unavailable",
    );
    // Not consumed: without the attestation (none asked for) it goes through.
    await assertOk(await postForm(fx, TOKEN, params));
  }, { alsoTrusted: [gone.issuer] });
});

// ---------------------------------------------------------------------------
// The headers

Deno.test("client attestation: one header without the other, two of one, or a DPoP proof instead of the PoP (the combined mode) is refused", async () => {
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const attestation = await attest(w);
    const dpopKey = await generateKeyPair();
    const dpop = () =>
      createDpopProof({
        ...dpopKey,
        method: "POST",
        url: `${ISSUER}${TOKEN}`,
        now: fx.clock.now(),
      });
    const cases: [string, () => Promise<Headers>][] = [
      [
        "the attestation alone",
        () => Promise.resolve(new Headers({ [ATTESTATION]: attestation })),
      ],
      [
        "the PoP alone",
        async () => new Headers({ [POP]: await pop(fx, instance) }),
      ],
      ["the attestation and a DPoP proof, no PoP", () =>
        Promise.resolve(
          new Headers({ [ATTESTATION]: attestation, DPoP: dpop() }),
        )],
      ["two attestations", async () => {
        const sent = new Headers(headers(attestation, await pop(fx, instance)));
        sent.append(ATTESTATION, attestation);
        return sent;
      }],
      ["two PoPs", async () => {
        const sent = new Headers(headers(attestation, await pop(fx, instance)));
        sent.append(POP, await pop(fx, instance));
        return sent;
      }],
    ];
    for (const [what, make] of cases) {
      const nonce = await challengeNonce(fx, agent.did);
      const params = await tokenParams(fx, agent, { nonce });
      const sent = await make();
      sent.set("Content-Type", "application/x-www-form-urlencoded");
      const refused = await assertError(
        await send(fx, TOKEN, {
          method: "POST",
          headers: sent,
          body: new URLSearchParams(params).toString(),
        }),
        400,
        "ERR_CLIENT_ATTESTATION_INVALID",
        "invalid_client_attestation",
      ).catch((error) => assert.fail(`${what}: ${error}`));
      if (what.includes("DPoP")) {
        assert.match(String(refused.error_description), /combined mode/);
      }
      await assertOk(await postForm(fx, TOKEN, params));
    }
  });
});

Deno.test("client attestation: a DPoP proof with the attestation and its PoP gets a token both bound and attested", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester, instance } = w;
    const dpopKey = await generateKeyPair();
    const answer = await assertOk<TokenAnswer>(
      (await tokenRequest(fx, agent, {
        ...headers(await attest(w), await pop(fx, instance)),
        DPoP: createDpopProof({
          ...dpopKey,
          method: "POST",
          url: `${ISSUER}${TOKEN}`,
          now: fx.clock.now(),
        }),
      })).response,
    );
    assert.equal(answer.token_type, "DPoP");
    const claims = jose.decodeJwt(answer.access_token);
    assert.deepEqual(claims.cnf, {
      jkt: await thumbprint(dpopKey.publicJwk),
    });
    assert.deepEqual(claims.attestation, {
      iss: attester.issuer,
      jkt: await thumbprint(instance.publicJwk),
    });
    const introspected = await assertOk(
      await introspect(fx, answer.access_token, asCaller(agent)),
    );
    assert.equal(introspected.token_type, "DPoP");
    assert.deepEqual(introspected.cnf, claims.cnf);
    assert.deepEqual(introspected.attestation, claims.attestation);
  }, { require: true });
});

// ---------------------------------------------------------------------------
// Single use

Deno.test("client attestation: a PoP is used once (by its jti): the same PoP with a fresh client assertion is refused", async () => {
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const attestation = await attest(w);
    const proof = await pop(fx, instance);
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent),
        headers(attestation, proof),
      ),
    );
    const params = await tokenParams(fx, agent);
    const refused = await assertError(
      await postForm(fx, TOKEN, params, headers(attestation, proof)),
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    assert.match(String(refused.error_description), /already used/);
    // Still refused later, as long as it would be fresh otherwise.
    fx.clock.advance(50);
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent),
        headers(attestation, proof),
      ),
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    // The client assertion of the refused request was not used: a new PoP takes it.
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        params,
        headers(attestation, await pop(fx, instance)),
      ),
    );
    // A PoP's jti and the client assertion's live apart: the same value is fine.
    const jti = randomToken(16);
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { jti }),
        headers(attestation, await pop(fx, instance, { jti })),
      ),
    );
  }, { require: true });
});

Deno.test("client attestation: a valid PoP on a request refused afterwards (its client assertion replayed) is used up all the same", async () => {
  // What happens, noted: the PoP's jti (or challenge) is consumed by the
  // attestation step, before the issuance's write finds the client
  // assertion replayed; that request gets no token and its PoP is spent.
  // The client makes a fresh PoP per request anyway (§5.2).
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const attestation = await attest(w);
    const params = await tokenParams(fx, agent);
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        params,
        headers(attestation, await pop(fx, instance)),
      ),
    );
    const proof = await pop(fx, instance);
    await assertError(
      await postForm(fx, TOKEN, params, headers(attestation, proof)),
      401,
      "ERR_ASSERTION_REPLAYED",
      "invalid_client",
    );
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent),
        headers(attestation, proof),
      ),
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    // The same with a PoP challenge: spent, and the refusal carries no fresh one.
    const challenge = await attestationChallenge(fx);
    const replayed = await postForm(
      fx,
      TOKEN,
      params,
      headers(attestation, await pop(fx, instance, { challenge })),
    );
    assert.equal(replayed.headers.get(CHALLENGE_HEADER), null);
    await assertError(replayed, 401, "ERR_ASSERTION_REPLAYED");
    await assertError(
      (await tokenRequest(
        fx,
        agent,
        headers(attestation, await pop(fx, instance, { challenge })),
      )).response,
      400,
      "ERR_ATTESTATION_CHALLENGE_INVALID",
      "use_attestation_challenge",
    );
  }, { require: true });
});

// ---------------------------------------------------------------------------
// Challenges

Deno.test("client attestation: POST /v1/challenges without a body answers an attestation challenge where attesters are trusted; otherwise as before", async () => {
  await withFixture(async (fx) => {
    await assertError(
      await send(fx, "/v1/challenges", { method: "POST" }),
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
      "invalid_request",
    );
  });
  await withAttester(async ({ fx, agent }) => {
    const response = await send(fx, "/v1/challenges", { method: "POST" });
    assert.equal(response.headers.get("Cache-Control"), "no-store");
    const answer = await assertOk<Record<string, unknown>>(response);
    assert.deepEqual(Object.keys(answer), ["attestation_challenge"]);
    assert.equal(typeof answer.attestation_challenge, "string");
    assert.ok((answer.attestation_challenge as string).length >= 16);
    const again = await assertOk<{ attestation_challenge: string }>(
      await send(fx, "/v1/challenges", { method: "POST" }),
    );
    assert.notEqual(again.attestation_challenge, answer.attestation_challenge);
    // The agents' token challenges are as they were.
    assert.equal(typeof await challengeNonce(fx, agent.did), "string");
    // A body of JSON without Content-Type is not a request for an attestation challenge.
    await assertError(
      await send(fx, "/v1/challenges", {
        method: "POST",
        body: new TextEncoder().encode(
          JSON.stringify({ client_id: agent.did }),
        ),
      }),
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
    );
  });
});

Deno.test("client attestation: over real HTTP, a client's bodiless POST to the challenge_endpoint (fetch sends Content-Length: 0) gets an attestation challenge", async () => {
  // Draft §6.1: the client fetches a challenge "by sending an HTTP POST
  // request to the URL provided in the challenge_endpoint parameter", no
  // body. The in-process Request of the test above has a null body; one
  // that came over the wire with Content-Length: 0 has an empty one.
  await withAttester(async ({ fx }) => {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request, info) =>
        fx.app(request, { remoteIp: info.remoteAddr.hostname }),
    );
    try {
      const origin = `http://127.0.0.1:${server.addr.port}`;
      const metadata = await body(
        await send(fx, "/.well-known/oauth-authorization-server"),
      );
      const endpoint = new URL(metadata.challenge_endpoint as string);
      const response = await fetch(`${origin}${endpoint.pathname}`, {
        method: "POST",
      });
      const answer = await assertOk<Record<string, unknown>>(response);
      assert.equal(typeof answer.attestation_challenge, "string");
      assert.equal(response.headers.get("Cache-Control"), "no-store");
    } finally {
      await server.shutdown();
    }
  });
});

async function attestationChallenge(fx: Fixture): Promise<string> {
  return (await assertOk<{ attestation_challenge: string }>(
    await send(fx, "/v1/challenges", { method: "POST" }),
  )).attestation_challenge;
}

Deno.test("client attestation: a PoP carrying a challenge uses it once; a used or unknown one is use_attestation_challenge with a fresh one in the header, which then works", async () => {
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const attestation = await attest(w);
    const challenge = await attestationChallenge(fx);
    await assertOk(
      (await tokenRequest(
        fx,
        agent,
        headers(attestation, await pop(fx, instance, { challenge })),
      )).response,
    );

    // The same challenge again, in a new PoP.
    const { response, params } = await tokenRequest(
      fx,
      agent,
      headers(attestation, await pop(fx, instance, { challenge })),
    );
    const fresh = response.headers.get(CHALLENGE_HEADER);
    await assertError(
      response,
      400,
      "ERR_ATTESTATION_CHALLENGE_INVALID",
      "use_attestation_challenge",
    );
    assert.ok(fresh, "a fresh challenge comes with the refusal");
    assert.notEqual(fresh, challenge);
    // The same request (its client assertion was not used) with a PoP of the fresh challenge.
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        params,
        headers(attestation, await pop(fx, instance, { challenge: fresh })),
      ),
    );

    // Unknown.
    const unknown = await tokenRequest(
      fx,
      agent,
      headers(
        attestation,
        await pop(fx, instance, { challenge: randomToken() }),
      ),
    );
    assert.ok(unknown.response.headers.get(CHALLENGE_HEADER));
    await assertError(
      unknown.response,
      400,
      "ERR_ATTESTATION_CHALLENGE_INVALID",
      "use_attestation_challenge",
    );

    // Expired.
    const old = await attestationChallenge(fx);
    fx.clock.advance(121);
    const late = await tokenRequest(
      fx,
      agent,
      headers(await attest(w), await pop(fx, instance, { challenge: old })),
    );
    await assertError(
      late.response,
      400,
      "ERR_ATTESTATION_CHALLENGE_INVALID",
      "use_attestation_challenge",
    );
    assertNoInternalErrors(fx);
  }, { require: true });
});

Deno.test("client attestation: an agent's token challenge is no PoP challenge, and an attestation challenge no client assertion nonce", async () => {
  await withAttester(async (w) => {
    const { fx, agent, instance } = w;
    const tokenChallenge = await challengeNonce(fx, agent.did);
    const { response } = await tokenRequest(
      fx,
      agent,
      headers(
        await attest(w),
        await pop(fx, instance, { challenge: tokenChallenge }),
      ),
    );
    await assertError(
      response,
      400,
      "ERR_ATTESTATION_CHALLENGE_INVALID",
      "use_attestation_challenge",
    );
    // That token challenge is still the agent's to use.
    await assertOk(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { nonce: tokenChallenge }),
      ),
    );

    const attestationNonce = await attestationChallenge(fx);
    await assertError(
      await postForm(
        fx,
        TOKEN,
        await tokenParams(fx, agent, { nonce: attestationNonce }),
      ),
      400,
      "ERR_CHALLENGE_INVALID",
    );
    // …and it is still a PoP's to use.
    await assertOk(
      (await tokenRequest(
        fx,
        agent,
        headers(
          await attest(w),
          await pop(fx, instance, { challenge: attestationNonce }),
        ),
      )).response,
    );
  });
});

// ---------------------------------------------------------------------------
// Metadata

Deno.test("client attestation: the metadata lists the attestation algorithms and PoP methods only where attesters are trusted; the token endpoint's auth methods are unchanged", async () => {
  let without: Record<string, unknown> = {};
  await withFixture(async (fx) => {
    without = await body(
      await send(fx, "/.well-known/oauth-authorization-server"),
    );
  });
  for (
    const name of [
      "client_attestation_signing_alg_values_supported",
      "client_attestation_pop_signing_alg_values_supported",
      "client_attestation_pop_methods_supported",
    ]
  ) {
    assert.equal(without[name], undefined, name);
  }
  await withAttester(async ({ fx }) => {
    const metadata = await body(
      await send(fx, "/.well-known/oauth-authorization-server"),
    );
    for (
      const name of [
        "client_attestation_signing_alg_values_supported",
        "client_attestation_pop_signing_alg_values_supported",
      ]
    ) {
      const algs = metadata[name] as string[];
      assert.ok(Array.isArray(algs), name);
      for (const alg of ["ES256", "EdDSA", "RS256"]) {
        assert.ok(algs.includes(alg), `${name} lists ${alg}`);
      }
      assert.ok(!algs.some((alg) => alg.startsWith("HS")), name);
      assert.ok(!algs.includes("none"), name);
    }
    assert.ok(Array.isArray(metadata.client_attestation_pop_methods_supported));
    assert.ok(
      (metadata.client_attestation_pop_methods_supported as string[]).includes(
        "attestation_pop_jwt",
      ),
    );
    assert.deepEqual(
      metadata.token_endpoint_auth_methods_supported,
      without.token_endpoint_auth_methods_supported,
    );
    assert.equal(metadata.challenge_endpoint, without.challenge_endpoint);
  });
});

// ---------------------------------------------------------------------------
// The grant API

Deno.test("client attestation: PUT /v1/agents/{did}/scopes takes require_attestation of trusted attesters only, GET shows it, a PUT without it keeps it, null and [] clear it", async () => {
  await withAttester(async (w) => {
    const { fx, agent, operator, attester } = w;
    const put = async (value: Record<string, unknown>) =>
      (await signedRequest(
        fx,
        "PUT",
        scopesPath(agent.did),
        { scopes: SCOPES, ...value },
        operator.signer,
      )).response;
    const set = await assertOk<Record<string, unknown>>(
      await put({ require_attestation: [attester.issuer, attester.issuer] }),
    );
    assert.deepEqual(set.require_attestation, [attester.issuer]);
    const grant = await fx.client.agentScopes(agent.did, operator.signer);
    assert.deepEqual(grant.require_attestation, [attester.issuer]);
    assert.deepEqual(grant.scopes, SCOPES);
    // The agent itself reads it too.
    assert.deepEqual(
      (await fx.client.agentScopes(agent.did, agent.signer))
        .require_attestation,
      [attester.issuer],
    );
    const entry = (await audits(fx)).findLast((e) => e.action === "grant.set");
    assert.ok(
      entry?.reason?.includes(`attested by ${attester.issuer}`),
      entry?.reason,
    );

    const refusals: [string, unknown][] = [
      ["an untrusted attester", ["https://untrusted-attester.example"]],
      ["a trusted and an untrusted one", [
        attester.issuer,
        "https://untrusted-attester.example",
      ]],
      ["the trusted one spelled with a trailing slash", [
        `${attester.issuer}/`,
      ]],
      ["a string", attester.issuer],
      ["an object", { attester: attester.issuer }],
      ["a number in the list", [attester.issuer, 7]],
      ["more than 8", Array.from({ length: 9 }, () => attester.issuer)],
      ["true", true],
    ];
    for (const [what, value] of refusals) {
      await assertError(
        await put({ require_attestation: value }),
        400,
        "ERR_INVALID_REQUEST",
        "invalid_request",
      ).catch((error) => assert.fail(`${what}: ${error}`));
      // The grant is as it was.
      assert.deepEqual(
        (await fx.client.agentScopes(agent.did, operator.signer))
          .require_attestation,
        [attester.issuer],
        what,
      );
    }
    await assertError(
      (await tokenRequest(fx, agent)).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );

    // Eight (the most) are taken.
    await assertOk(
      await put({
        require_attestation: Array.from({ length: 8 }, () => attester.issuer),
      }),
    );
    // A PUT without it keeps it: adding a scope does not drop the requirement.
    const kept = await assertOk<Record<string, unknown>>(await put({}));
    assert.deepEqual(kept.require_attestation, [attester.issuer]);
    await assertError(
      (await tokenRequest(fx, agent)).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    // null and [] ask for none.
    for (
      const value of [{ require_attestation: null }, {
        require_attestation: [],
      }]
    ) {
      await assertOk(await put({ require_attestation: [attester.issuer] }));
      const cleared = await assertOk<Record<string, unknown>>(await put(value));
      assert.deepEqual(cleared.require_attestation, [], JSON.stringify(value));
      assert.deepEqual(
        (await fx.client.agentScopes(agent.did, operator.signer))
          .require_attestation,
        [],
      );
      // The token endpoint sees it at once: no attestation needed.
      await assertOk((await tokenRequest(fx, agent)).response);
    }
    // Through IssuerClient: set, kept by new scopes alone, dropped by [].
    await fx.client.setAgentScopes(agent.did, SCOPES, operator.signer, {
      requireAttestation: [attester.issuer],
    });
    await assertError(
      (await tokenRequest(fx, agent)).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    const rescoped = await fx.client.setAgentScopes(
      agent.did,
      ["read:data"],
      operator.signer,
    );
    assert.deepEqual(rescoped.require_attestation, [attester.issuer]);
    const replaced = await fx.client.setAgentScopes(
      agent.did,
      ["read:data"],
      operator.signer,
      { requireAttestation: [] },
    );
    assert.deepEqual(replaced.require_attestation, []);
    assert.equal(
      (await fx.store.getAgentStanding(agent.did))?.grant?.attesters,
      undefined,
    );
    await assertOk((await tokenRequest(fx, agent)).response);
  });
});

Deno.test("client attestation: a server that trusts no attester refuses a grant asking for one", async () => {
  await withFixture(async (fx) => {
    const { agent, operator } = await setup(fx);
    const refused = await assertError(
      (await signedRequest(fx, "PUT", scopesPath(agent.did), {
        scopes: SCOPES,
        require_attestation: ["https://attester.example"],
      }, operator.signer)).response,
      400,
      "ERR_INVALID_REQUEST",
      "invalid_request",
    );
    assert.match(String(refused.error_description), /none/);
    assert.deepEqual(
      (await fx.client.agentScopes(agent.did, operator.signer))
        .require_attestation,
      [],
    );
    // An empty list asks for nothing, and is taken.
    await assertOk(
      (await signedRequest(fx, "PUT", scopesPath(agent.did), {
        scopes: SCOPES,
        require_attestation: [],
      }, operator.signer)).response,
    );
  });
});

// ---------------------------------------------------------------------------
// Introspection

Deno.test("client attestation: introspection of an attested token shows its attestation; of another, none", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester, instance } = w;
    const attested = (await assertOk<TokenAnswer>(await attestedRequest(w)))
      .access_token;
    const answer = await assertOk(
      await introspect(fx, attested, asCaller(agent)),
    );
    assert.equal(answer.active, true);
    assert.deepEqual(answer.attestation, {
      iss: attester.issuer,
      jkt: await thumbprint(instance.publicJwk),
    });
    assert.equal(answer.token_type, "Bearer");
    const plain = await issueToken(fx, agent);
    const unattested = await assertOk(
      await introspect(fx, plain, asCaller(agent)),
    );
    assert.equal(unattested.active, true);
    assert.equal(unattested.attestation, undefined);
    // A resource server asking for an attested token refuses this one.
    await rejectsWith(
      new TokenVerifier(fx.client).verify(plain, {
        audience: ISSUER,
        attesters: [attester.issuer],
        now: fx.clock.now(),
      }),
      "ERR_TOKEN_NOT_ATTESTED",
    );
  });
});

// ---------------------------------------------------------------------------
// Token exchange

Deno.test("client attestation: a token exchange is refused without an attestation when the subject's grant asks for one, and taken with one by that attester (of the actor)", async () => {
  await withAttester(async (w) => {
    const { fx, operator, attester } = w;
    const a = w.agent;
    const b = await createAgent(fx, operator);
    const aInstance = w.instance;
    const bInstance = await instanceKey("EdDSA");
    await fx.client.setAgentScopes(a.did, SCOPES, operator.signer, {
      requireAttestation: [attester.issuer],
    });

    // A's own delegation needs A's attestation.
    await assertError(
      (await tokenRequest(fx, a, {}, { may_act: b.did })).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    const delegation = (await assertOk<TokenAnswer>(
      (await tokenRequest(
        fx,
        a,
        headers(await attest(w), await pop(fx, aInstance)),
        { may_act: b.did },
      )).response,
    )).access_token;
    assert.equal(
      (jose.decodeJwt(delegation).attestation as { iss: string }).iss,
      attester.issuer,
    );

    const exchange = async (extraHeaders: Record<string, string> = {}) =>
      await postForm(fx, TOKEN, {
        grant_type: EXCHANGE,
        subject_token: delegation,
        subject_token_type: ACCESS_TOKEN,
        ...(await clientAuth(fx, b.did, b.pair.privateKey)),
      }, extraHeaders);

    await assertError(
      await exchange(),
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
      "invalid_client_attestation",
    );
    // A's attestation is not B's: its sub is A.
    await assertError(
      await exchange(headers(await attest(w), await pop(fx, aInstance))),
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    const bAttestation = await attest(w, { sub: b.did, instance: bInstance });
    const answer = await assertOk<TokenAnswer>(
      await exchange(headers(bAttestation, await pop(fx, bInstance))),
    );
    assert.equal(answer.issued_token_type, ACCESS_TOKEN);
    const claims = jose.decodeJwt(answer.access_token);
    assert.equal(claims.sub, a.did);
    assert.deepEqual(claims.act, { sub: b.did });
    assert.deepEqual(claims.attestation, {
      iss: attester.issuer,
      jkt: await thumbprint(bInstance.publicJwk),
    });
    assert.ok(
      (claims.exp as number) <= (jose.decodeJwt(bAttestation).exp as number),
    );
    const entry = (await audits(fx)).find((e) => e.target === claims.jti);
    assert.equal(entry?.action, "token.exchange");
    assert.equal(
      entry?.reason,
      `read:data write:data for ${a.did}; attested by ${attester.issuer}`,
    );
    assertNoInternalErrors(fx);
  });
});

Deno.test("client attestation: a token exchange is refused without an attestation when the actor's own grant asks for one", async () => {
  await withAttester(async (w) => {
    const { fx, operator, attester } = w;
    const a = w.agent;
    const b = await createAgent(fx, operator);
    await fx.client.setAgentScopes(b.did, SCOPES, operator.signer, {
      requireAttestation: [attester.issuer],
    });
    const delegation = await issueToken(fx, a, { may_act: b.did });
    const exchange = async (extraHeaders: Record<string, string> = {}) =>
      await postForm(fx, TOKEN, {
        grant_type: EXCHANGE,
        subject_token: delegation,
        subject_token_type: ACCESS_TOKEN,
        ...(await clientAuth(fx, b.did, b.pair.privateKey)),
      }, extraHeaders);
    await assertError(
      await exchange(),
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    const bInstance = await instanceKey();
    await assertOk(
      await exchange(
        headers(
          await attest(w, { sub: b.did, instance: bInstance }),
          await pop(fx, bInstance),
        ),
      ),
    );
  });
});

// ---------------------------------------------------------------------------
// Workload federation

Deno.test("client attestation: the jwt-bearer (workload) grant meets the grant's ask too: refused without, taken with an attestation of the agent's DID and a PoP by its cnf key", async () => {
  const platform = await startFakePlatform();
  const subject = "system:serviceaccount:payments:worker";
  try {
    await withAttester(async (w) => {
      const { fx, agent, operator, attester, instance } = w;
      await fx.client.addWorkloadIdentity(
        agent.did,
        { issuer: platform.issuer, subject },
        operator.signer,
      );
      const platformExp = nowSeconds(fx.clock.now()) + 500;
      const platformToken = await platform.mint(
        { sub: subject, aud: ISSUER, exp: platformExp },
        { now: fx.clock.now() },
      );
      const trade = (extraHeaders: Record<string, string> = {}) =>
        postForm(fx, TOKEN, {
          grant_type: JWT_BEARER,
          assertion: platformToken,
          client_id: agent.did,
        }, extraHeaders);

      await assertError(
        await trade(),
        400,
        "ERR_CLIENT_ATTESTATION_REQUIRED",
        "invalid_client_attestation",
      );
      // An attestation of the workload's platform subject is not of the agent.
      await assertError(
        await trade(
          headers(await attest(w, { sub: subject }), await pop(fx, instance)),
        ),
        400,
        "ERR_CLIENT_ATTESTATION_INVALID",
      );
      const attestationExp = nowSeconds(fx.clock.now()) + 300;
      const answer = await assertOk<TokenAnswer>(
        await trade(
          headers(
            await attest(w, { claims: { exp: attestationExp } }),
            await pop(fx, instance),
          ),
        ),
      );
      const claims = jose.decodeJwt(answer.access_token);
      assert.equal(claims.sub, agent.did);
      assert.deepEqual(claims.attestation, {
        iss: attester.issuer,
        jkt: await thumbprint(instance.publicJwk),
      });
      assert.equal(claims.exp, attestationExp, "the earliest end rules");

      // Through IssuerClient, an Ed25519 instance key.
      const edInstance = await generateKeyPair();
      const viaClient = await fx.client.workloadToken(
        agent.did,
        platformToken,
        {
          attestation: {
            jwt: await attest(w, { instance: edInstance }),
            privateKey: edInstance.privateKey,
          },
        },
      );
      assert.equal(
        (jose.decodeJwt(viaClient.access_token).attestation as { jkt: string })
          .jkt,
        await thumbprint(edInstance.publicJwk),
      );

      const issued = (await audits(fx)).filter((entry) =>
        entry.action === "token.issue" && entry.outcome === "success"
      );
      const entry = issued.find((e) => e.target === claims.jti);
      assert.equal(
        entry?.reason,
        `read:data write:data via workload ${platform.issuer} ${subject}; attested by ${attester.issuer}`,
      );
      assertNoInternalErrors(fx);
    }, {
      require: true,
      workloadIssuers: new ForeignIssuers([platform.issuer]),
    });
  } finally {
    await platform.close();
  }
});

// ---------------------------------------------------------------------------
// Audit

Deno.test("client attestation: the issuance's audit entry says who attested the client; a refusal is audited with its code", async () => {
  await withAttester(async (w) => {
    const { fx, agent, attester } = w;
    await assertError(
      (await tokenRequest(fx, agent)).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
    );
    const answer = await assertOk<TokenAnswer>(
      await attestedRequest(w, { scope: "read:data" }),
    );
    const jti = jose.decodeJwt(answer.access_token).jti;
    const entries = await audits(fx);
    const issued = entries.find((e) => e.target === jti);
    assert.equal(issued?.action, "token.issue");
    assert.equal(issued?.outcome, "success");
    assert.equal(issued?.actor, agent.did);
    assert.equal(issued?.reason, `read:data; attested by ${attester.issuer}`);
    const denied = entries.filter((e) =>
      e.action === "token.issue" && e.outcome === "denied"
    );
    assert.deepEqual(
      denied.map((e) => [e.actor, e.reason]),
      [[agent.did, "ERR_CLIENT_ATTESTATION_REQUIRED"]],
    );
    // An unattested token's entry says nothing of attestation.
    await fx.client.setAgentScopes(agent.did, SCOPES, w.operator.signer, {
      requireAttestation: [],
    });
    const plain = jose.decodeJwt(await issueToken(fx, agent)).jti;
    const plainEntry = (await audits(fx)).find((e) => e.target === plain);
    assert.equal(plainEntry?.reason, "read:data write:data");
  }, { require: true });
});

// ---------------------------------------------------------------------------
// From the review

Deno.test("client attestation: one instance key attested for two agents takes each PoP once, not once per agent", async () => {
  await withAttester(async (w) => {
    const { fx, operator, instance } = w;
    const other = await createAgent(fx, operator);
    await fx.client.setAgentScopes(other.did, SCOPES, operator.signer, {
      requireAttestation: [w.attester.issuer],
    });
    const proof = await pop(fx, instance);
    const mine = await attest(w);
    const theirs = await attest(w, { sub: other.did });
    await assertOk(
      (await tokenRequest(fx, w.agent, headers(mine, proof)))
        .response,
    );
    await assertError(
      (await tokenRequest(fx, other, headers(theirs, proof))).response,
      400,
      "ERR_CLIENT_ATTESTATION_INVALID",
      "invalid_client_attestation",
    );
    await assertOk(
      (await tokenRequest(
        fx,
        other,
        headers(theirs, await pop(fx, instance)),
      )).response,
    );
  }, { require: true });
});

Deno.test("client attestation: an attestation expired within the clock leeway is use_fresh_attestation, and leaves its PoP unused", async () => {
  await withAttester(async (w) => {
    const { fx, instance } = w;
    const now = nowSeconds(fx.clock.now());
    const expired = await attest(w, { claims: { iat: now - 100, exp: now } });
    const proof = await pop(fx, instance);
    await assertError(
      (await tokenRequest(fx, w.agent, headers(expired, proof))).response,
      400,
      "ERR_CLIENT_ATTESTATION_STALE",
      "use_fresh_attestation",
    );
    // The same PoP with a fresh attestation: it was not spent by the refusal.
    await assertOk(
      (await tokenRequest(fx, w.agent, headers(await attest(w), proof)))
        .response,
    );
  }, { require: true });
});

Deno.test("client attestation: IssuerClient refuses a token that says nothing of the attestation it sent (a server that trusts no attester ignores the headers)", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const attester = await startFakePlatform({ alg: "ES256" });
    try {
      const attestation = await attester.mint({
        sub: agent.did,
        cnf: {
          jwk: { kty: "OKP", crv: "Ed25519", x: agent.pair.publicJwk.x },
        },
      }, { typ: ATTESTATION_TYP, now: fx.clock.now() });
      await rejectsWith(
        fx.client.issueToken(agent.did, agent.pair.privateKey, {
          attestation: { jwt: attestation, privateKey: agent.pair.privateKey },
        }),
        "ERR_ATTESTATION_IGNORED",
      );
    } finally {
      await attester.close();
    }
  });
});

Deno.test("client attestation: a grant naming only attesters the server no longer trusts is ERR_CLIENT_ATTESTATION_REQUIRED, with or without an attestation", async () => {
  await withAttester(async (w) => {
    await assertOk(await attestedRequest(w));
    // Restarted without --client-attester: the grant cannot be met.
    w.fx.deps.clientAttesters = new ForeignIssuers([], {
      role: CLIENT_ATTESTER,
    });
    await assertError(
      await attestedRequest(w),
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
      "invalid_client_attestation",
    );
    await assertError(
      (await tokenRequest(w.fx, w.agent)).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
      "invalid_client_attestation",
    );
  }, { require: true });
});

Deno.test("client attestation: a grant that starts asking for one while a request is in flight refuses it in the issuance's write", async () => {
  await withAttester(async (w) => {
    const { fx, operator, agent } = w;
    // Hold the request's write until the operator's change has committed
    // (as the writer's queue, or a slow PostgreSQL round trip, can).
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    let arrived!: () => void;
    const atTheWrite = new Promise<void>((resolve) => arrived = resolve);
    const record = fx.store.recordIssuance.bind(fx.store);
    fx.store.recordIssuance = async (...args) => {
      arrived();
      await released;
      return await record(...args);
    };
    const inFlight = tokenRequest(fx, agent);
    await atTheWrite;
    await fx.client.setAgentScopes(agent.did, SCOPES, operator.signer, {
      requireAttestation: [w.attester.issuer],
    });
    release();
    await assertError(
      (await inFlight).response,
      400,
      "ERR_CLIENT_ATTESTATION_REQUIRED",
      "invalid_client_attestation",
    );
  });
});
