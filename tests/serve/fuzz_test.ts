/**
 * Property tests (fast-check): random form bodies and random JSON bodies on
 * every POST route (and the PUT of grants) never yield a 5xx, and every error
 * is a known error_code. The inputs mix noise with near-valid values — real
 * DIDs, operator ids, challenge nonces and tokens, client assertions with
 * random claims that are validly signed, request proofs over the random body
 * — so that the randomness reaches past the parsers into every endpoint's
 * steps; each test also checks that successes and deep refusals were seen.
 * The seed is fixed so that runs are deterministic; change it to explore.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import * as jose from "jose";
import type { Signer } from "../../src/client/issuer_client.ts";
import { CLIENT_ASSERTION_TYPE } from "../../src/core/client_assertion.ts";
import { didForKey } from "../../src/core/did.ts";
import { base64url, utf8 } from "../../src/core/encoding.ts";
import { isErrorCode } from "../../src/core/errors.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair, type KeyPair } from "../../src/core/keys.ts";
import {
  challengeNonce,
  type Fixture,
  FORM,
  ISSUER,
  issueToken,
  JSON_TYPE,
  send,
  setup,
  signedRequest,
  type TestAgent,
  type TestOperator,
  withFixture,
} from "./helpers.ts";

const SEED = 20260101;
const RUNS = 500;

/** How often each outcome (`status` or `status error_code`) was seen. */
type Outcomes = Map<string, number>;

async function assertNot5xx(
  fx: Fixture,
  response: Response,
  what: string,
  outcomes: Outcomes,
): Promise<void> {
  const text = await response.text();
  assert.ok(response.status < 500, `${what} → ${response.status}: ${text}`);
  let outcome = String(response.status);
  if (response.status >= 400) {
    const body = JSON.parse(text);
    assert.ok(
      typeof body.error_code === "string" && isErrorCode(body.error_code),
      `${what} → unknown error_code: ${text}`,
    );
    assert.equal(typeof body.error, "string");
    outcome += ` ${body.error_code}`;
  }
  outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  assert.deepEqual(
    fx.logs.filter((line) => line.level === "error"),
    [],
    `${what} logged an unexpected error`,
  );
}

function assertReached(outcomes: Outcomes, expected: string[]): void {
  for (const outcome of expected) {
    assert.ok(
      outcomes.has(outcome),
      `the fuzzer never produced ${outcome}: ${JSON.stringify([...outcomes])}`,
    );
  }
}

interface World {
  fx: Fixture;
  operator: TestOperator;
  agent: TestAgent;
  token: string;
  stranger: KeyPair;
}

async function world(fx: Fixture): Promise<World> {
  const { operator, agent } = await setup(fx);
  return {
    fx,
    operator,
    agent,
    token: await issueToken(fx, agent),
    stranger: await generateKeyPair(),
  };
}

/** Strings from the whole of Unicode (lone surrogates included), short ones often. */
const noise = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: "binary-ascii", maxLength: 300 }),
  fc.constantFrom("", " ", "%", "%ZZ", "\u0000", "null", "-1", "1e309"),
);

/** Mostly one of the valid values, sometimes absent, any JSON value or noise. */
function near<T>(...valid: T[]): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
    { weight: 1, arbitrary: noise },
  );
}

/** Usually absent (undefined); otherwise one of `values`. */
function rarely<T>(
  values: fc.Arbitrary<T>,
  absent = 6,
): fc.Arbitrary<T | undefined> {
  return fc.oneof(
    { weight: absent, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: values },
  );
}

/** One of the values, with the given weights. */
function weighted<T>(...choices: [number, T][]): fc.Arbitrary<T> {
  return fc.oneof(
    ...choices.map(([weight, value]) => ({
      weight,
      arbitrary: fc.constant(value),
    })),
  );
}

/** Usually `valid`; otherwise noise or one of `others`. */
function mostly(valid: string, ...others: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.constant(valid) },
    { weight: 1, arbitrary: noise },
    ...(others.length > 0
      ? [{ weight: 1, arbitrary: fc.constantFrom(...others) }]
      : []),
  );
}

// ---------------------------------------------------------------------------
// Client assertions with random claims

interface AssertionSpec {
  who: "agent" | "operator" | "unknown";
  key: "own" | "stranger" | "random-bytes" | "short";
  alg: string;
  typ?: string;
  challenge: boolean;
  claims: Record<string, unknown>;
  drop: string[];
}

/** Odds against overriding any one valid claim (there are eight). */
const RARE = 16;

function assertionArbitrary(now: number): fc.Arbitrary<AssertionSpec> {
  return fc.record({
    who: weighted<AssertionSpec["who"]>([10, "agent"], [1, "operator"], [
      1,
      "unknown",
    ]),
    key: weighted<AssertionSpec["key"]>(
      [12, "own"],
      [1, "stranger"],
      [1, "random-bytes"],
      [1, "short"],
    ),
    alg: weighted([6, "EdDSA"], [6, "Ed25519"], [1, "none"], [1, "HS256"]),
    typ: rarely(
      fc.constantFrom("JWT", "client-authentication+jwt", "at+jwt", "x"),
      2,
    ),
    challenge: fc.boolean(),
    // Rare overrides of the valid claims.
    claims: fc.record({
      aud: rarely(
        fc.constantFrom(`${ISSUER}/oauth/token`, [ISSUER, "x"], "elsewhere", 7),
        RARE,
      ),
      jti: rarely(fc.constantFrom("fixed-jti", "a".repeat(257), 1), RARE),
      iat: rarely(
        fc.constantFrom(now - 400, now + 31, now + 400, 1.5, "x"),
        RARE,
      ),
      exp: rarely(
        fc.constantFrom(now + 300, now + 301, now - 31, now + 1e12, 1e309),
        RARE,
      ),
      nbf: rarely(fc.constantFrom(now, now + 400, "x"), RARE),
      nonce: rarely(fc.constantFrom("unknown-nonce", "", 5), RARE),
      iss: rarely(
        fc.constantFrom("did:agent:example.com:" + "0".repeat(32)),
        RARE,
      ),
      extra: rarely(fc.jsonValue({ maxDepth: 2 }), RARE),
    }),
    drop: fc.oneof(
      { weight: 8, arbitrary: fc.constant<string[]>([]) },
      {
        weight: 1,
        arbitrary: fc.subarray(["iss", "sub", "aud", "jti", "exp", "iat"]),
      },
    ),
  });
}

async function buildAssertion(w: World, spec: AssertionSpec): Promise<string> {
  const now = nowSeconds(w.fx.clock.now());
  const id = spec.who === "agent"
    ? w.agent.did
    : spec.who === "operator"
    ? w.operator.id
    : "did:agent:example.com:" + "f".repeat(32);
  const claims: Record<string, unknown> = {
    iss: id,
    sub: id,
    aud: ISSUER,
    jti: crypto.randomUUID(),
    iat: now,
    exp: now + 60,
  };
  if (spec.challenge) claims.nonce = await challengeNonce(w.fx, w.agent.did);
  for (const [name, value] of Object.entries(spec.claims)) {
    if (value !== undefined) claims[name] = value;
  }
  for (const name of spec.drop) delete claims[name];
  const header: Record<string, unknown> = { alg: spec.alg };
  if (spec.typ !== undefined) header.typ = spec.typ;
  const payload = utf8(JSON.stringify(claims));
  if (
    spec.key === "random-bytes" || spec.key === "short" ||
    !/^(EdDSA|Ed25519)$/.test(spec.alg)
  ) {
    const signature = crypto.getRandomValues(
      new Uint8Array(spec.key === "short" ? 10 : 64),
    );
    return [
      base64url(utf8(JSON.stringify(header))),
      base64url(payload),
      base64url(signature),
    ].join(".");
  }
  const key = spec.key === "stranger"
    ? w.stranger.privateKey
    : spec.who === "operator"
    ? w.operator.pair.privateKey
    : w.agent.pair.privateKey;
  return await new jose.CompactSign(payload)
    .setProtectedHeader(header as jose.CompactJWSHeaderParameters)
    .sign(key);
}

// ---------------------------------------------------------------------------
// Form bodies

type FormInput =
  | {
    kind: "structured";
    fields: Record<string, string | undefined>;
    clientId: "absent" | "match" | "other";
    assertion?: AssertionSpec;
    extra: [string, string][];
  }
  | { kind: "raw"; raw: string }
  | { kind: "bytes"; bytes: Uint8Array<ArrayBuffer> };

function formArbitrary(w: World): fc.Arbitrary<FormInput> {
  const now = nowSeconds(w.fx.clock.now());
  const forged = w.token.slice(0, -4) +
    (w.token.endsWith("AAAA") ? "BBBB" : "AAAA");
  const fields = fc.record({
    grant_type: mostly("client_credentials", "password"),
    client_assertion_type: mostly(CLIENT_ASSERTION_TYPE),
    scope: rarely(
      fc.oneof(
        fc.constantFrom(
          "read:data",
          "read:data write:data",
          "admin:root",
          'a"b',
        ),
        noise,
      ),
      1,
    ),
    audience: rarely(
      fc.oneof(fc.constantFrom("api.example.com", "https://a.example/"), noise),
    ),
    resource: rarely(
      fc.oneof(
        fc.constantFrom(
          "https://api.example.com/mcp",
          "relative",
          "https://x/#f",
        ),
        fc.webUrl(),
        noise,
      ),
    ),
    expires_in: rarely(
      fc.oneof(fc.constantFrom("60", "900", "100000", "0", "1.5"), noise),
    ),
    token: mostly(w.token, forged, "garbage", "a.b.c"),
    token_type_hint: rarely(
      fc.oneof(fc.constantFrom("access_token", "refresh_token"), noise),
    ),
  });
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        kind: fc.constant("structured" as const),
        fields,
        clientId: weighted<"absent" | "match" | "other">(
          [4, "absent"],
          [4, "match"],
          [1, "other"],
        ),
        assertion: fc.option(assertionArbitrary(now), {
          nil: undefined,
          freq: 8,
        }),
        extra: rarely(fc.array(fc.tuple(noise, noise), { maxLength: 2 }), 3)
          .map((extra) => extra ?? []),
      }),
    },
    {
      weight: 1,
      arbitrary: noise.map((raw) => ({ kind: "raw" as const, raw })),
    },
    {
      weight: 1,
      arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({
        kind: "bytes" as const,
        bytes,
      })),
    },
  );
}

async function formBody(
  w: World,
  input: FormInput,
): Promise<string | Uint8Array<ArrayBuffer>> {
  if (input.kind === "raw") return input.raw;
  if (input.kind === "bytes") return input.bytes;
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(input.fields)) {
    if (value !== undefined) form.set(name, value);
  }
  if (input.assertion) {
    const assertion = await buildAssertion(w, input.assertion);
    form.set("client_assertion", assertion);
    if (input.clientId === "match") {
      const iss = jose.decodeJwt(assertion).iss;
      if (typeof iss === "string") form.set("client_id", iss);
    }
  }
  if (input.clientId === "other") form.set("client_id", w.operator.id);
  for (const [name, value] of input.extra) form.append(name, value);
  return form.toString();
}

const FORM_ROUTES = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"];

Deno.test("fuzz: random form bodies on every POST route never yield a 5xx", async () => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const outcomes: Outcomes = new Map();
    const otherRoutes = jsonRoutes(w).map((route) => route.path);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 6, arbitrary: fc.constantFrom(...FORM_ROUTES) },
          { weight: 1, arbitrary: fc.constantFrom(...otherRoutes) },
        ),
        formArbitrary(w),
        async (path, input) => {
          const response = await send(fx, path, {
            method: "POST",
            headers: { "Content-Type": FORM },
            body: await formBody(w, input),
          });
          await assertNot5xx(fx, response, `POST ${path}`, outcomes);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    assertReached(outcomes, [
      "200",
      "400 ERR_INVALID_REQUEST",
      "401 ERR_INVALID_CLIENT",
      "401 ERR_ASSERTION_INVALID",
      "401 ERR_BAD_SIGNATURE",
      "400 ERR_CHALLENGE_INVALID",
      "400 ERR_SCOPE_NOT_GRANTED",
    ]);
  });
});

// ---------------------------------------------------------------------------
// JSON bodies

type SignerKind = "none" | "garbage" | "new-key" | "operator" | "agent";

interface JsonRoute {
  method: string;
  path: string;
  /** Who normally signs this request. */
  signer: SignerKind;
  fields: Record<string, fc.Arbitrary<unknown>>;
}

/** Placeholders for the DID of the key that signs the request, per domain. */
const SELF_DID = (domain: string) => `<did of the signing key at ${domain}>`;

function jsonRoutes(w: World): JsonRoute[] {
  return [
    { method: "POST", path: "/v1/nonce", signer: "none", fields: {} },
    {
      method: "POST",
      path: "/v1/challenges",
      signer: "none",
      fields: { client_id: near(w.agent.did, w.operator.id) },
    },
    {
      method: "POST",
      path: "/v1/operators",
      signer: "new-key",
      fields: {
        domain: near(
          "example.com",
          "other.example",
          "EXAMPLE.com.",
          "localhost",
        ),
      },
    },
    {
      method: "POST",
      path: `/v1/operators/${w.operator.id}/verify`,
      signer: "operator",
      fields: {},
    },
    {
      method: "POST",
      path: `/v1/operators/op_${"0".repeat(32)}/verify`,
      signer: "operator",
      fields: {},
    },
    {
      method: "POST",
      path: "/v1/operators/%ZZ/verify",
      signer: "operator",
      fields: {},
    },
    {
      method: "POST",
      path: "/v1/agents",
      signer: "new-key",
      fields: {
        did: near(SELF_DID("example.com"), SELF_DID("other.example")),
        operator_id: near(w.operator.id),
      },
    },
    {
      method: "PUT",
      path: `/v1/agents/${w.agent.did}/scopes`,
      signer: "operator",
      fields: {
        scopes: near<unknown>(
          ["read:data"],
          ["a", "b,c"],
          [],
          [1],
          "read:data",
          ['"'],
        ),
      },
    },
    {
      method: "PUT",
      path: "/v1/agents/did:agent:x/scopes",
      signer: "operator",
      fields: { scopes: near(["read:data"]) },
    },
  ];
}

function jsonInput(route: JsonRoute) {
  return fc.record({
    body: fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record(route.fields).map((o) => JSON.stringify(o)),
      },
      { weight: 1, arbitrary: fc.json({ maxDepth: 3 }) },
      { weight: 1, arbitrary: noise },
    ),
    signer: fc.oneof(
      { weight: 4, arbitrary: fc.constant(route.signer) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<SignerKind>(
          "none",
          "garbage",
          "new-key",
          "operator",
          "agent",
        ),
      },
    ),
  });
}

Deno.test("fuzz: random JSON bodies on every POST route never yield a 5xx", async () => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const outcomes: Outcomes = new Map();
    const formRoutes: JsonRoute[] = FORM_ROUTES.map((path) => ({
      method: "POST",
      path,
      signer: "none",
      fields: { token: near(w.token), client_id: near(w.agent.did) },
    }));
    const routes = [...jsonRoutes(w), ...formRoutes];
    // Verification succeeds for the registered operator, and for new
    // operators of example.com only when nobody else holds it (never here).
    fx.dns.set(w.operator.dnsRecord.name, [[w.operator.dnsRecord.value]]);
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes).chain((route) =>
          fc.tuple(fc.constant(route), jsonInput(route))
        ),
        async ([route, input]) => {
          let response: Response;
          if (input.signer === "none" || input.signer === "garbage") {
            const headers: Record<string, string> = {
              "Content-Type": JSON_TYPE,
            };
            if (input.signer === "garbage") {
              headers["Auth4Agent-Signature"] = "e30.e30." + "A".repeat(86);
            }
            response = await send(fx, route.path, {
              method: route.method,
              headers,
              body: input.body,
            });
          } else {
            let body = input.body;
            let signer: Signer;
            if (input.signer === "new-key") {
              const pair = await generateKeyPair();
              for (const domain of ["example.com", "other.example"]) {
                body = body.replaceAll(
                  SELF_DID(domain),
                  await didForKey(domain, pair.publicJwk),
                );
              }
              signer = {
                privateKey: pair.privateKey,
                publicJwk: pair.publicJwk,
              };
            } else {
              signer = input.signer === "operator"
                ? w.operator.signer
                : w.agent.signer;
            }
            ({ response } = await signedRequest(
              fx,
              route.method,
              route.path,
              body,
              signer,
            ));
          }
          await assertNot5xx(
            fx,
            response,
            `${route.method} ${route.path}`,
            outcomes,
          );
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    assertReached(outcomes, [
      "200",
      "201",
      "400 ERR_INVALID_REQUEST",
      "400 ERR_INVALID_DID",
      "400 ERR_INVALID_DOMAIN",
      "401 ERR_REQUEST_SIGNATURE_INVALID",
      "403 ERR_FORBIDDEN",
      "403 ERR_DOMAIN_MISMATCH",
      "415 ERR_UNSUPPORTED_MEDIA_TYPE",
    ]);
  });
});
