/**
 * Whatever answers at the issuer's URL may send JSON of the wrong shape:
 * `null` metadata, metadata without `jwks_uri`, JWKS entries that are not
 * objects. The client refuses such answers with ERR_ISSUER_RESPONSE (CLI
 * exit 4), never an internal error; a JWKS entry that is not an object is
 * skipped, like any key the verifier cannot use. A real server on port 0
 * answers the bodies.
 */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { signAccessToken } from "../../src/core/access_token.ts";
import { Auth4AgentError, EXIT } from "../../src/core/errors.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { runCli } from "../helpers/in_process.ts";

const JWKS_PATH = "/.well-known/jwks.json";
const METADATA_PATH = "/.well-known/oauth-authorization-server";

/** Runs `work` against a server answering path → JSON body (`bodies` gets its origin); 404 elsewhere. */
async function withIssuer(
  bodies: (origin: string) => Record<string, unknown>,
  work: (origin: string) => Promise<void>,
): Promise<void> {
  let answers: Record<string, unknown> = {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      return Object.hasOwn(answers, path)
        ? new Response(JSON.stringify(answers[path]), {
          headers: { "content-type": "application/json" },
        })
        : new Response("not found", { status: 404 });
    },
  );
  const origin = `http://127.0.0.1:${server.addr.port}`;
  answers = bodies(origin);
  try {
    await work(origin);
  } finally {
    await server.shutdown();
  }
}

/** A well-formed access token of https://issuer.example, signed by `privateKey` as kid k1. */
function foreignToken(privateKey: CryptoKey): Promise<string> {
  const did = "did:agent:example.com:" + "ab".repeat(16);
  const iat = nowSeconds(new Date());
  return signAccessToken({
    iss: "https://issuer.example",
    sub: did,
    aud: "api",
    scope: "read",
    client_id: did,
    iat,
    exp: iat + 60,
    jti: "t1",
    domain: "example.com",
  }, { kid: "k1", privateKey });
}

/** The issuer's metadata with `changes` applied (undefined drops a field). */
function metadata(
  origin: string,
  changes: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    issuer: origin,
    token_endpoint: `${origin}/oauth/token`,
    jwks_uri: `${origin}${JWKS_PATH}`,
    introspection_endpoint: `${origin}/oauth/introspect`,
    revocation_endpoint: `${origin}/oauth/revoke`,
    ...changes,
  };
}

function isIssuerResponse(error: unknown): boolean {
  assert.ok(error instanceof Auth4AgentError, String(error));
  assert.equal(error.code, "ERR_ISSUER_RESPONSE", error.message);
  return true;
}

Deno.test("IssuerClient: metadata that is not a JSON object is ERR_ISSUER_RESPONSE", async () => {
  for (const body of [null, [], "issuer", 42]) {
    await withIssuer(() => ({ [METADATA_PATH]: body }), async (origin) => {
      await assert.rejects(
        new IssuerClient(origin).metadata(),
        isIssuerResponse,
        JSON.stringify(body),
      );
    });
  }
});

Deno.test("IssuerClient: metadata without the URLs the client uses is ERR_ISSUER_RESPONSE", async () => {
  const cases: Record<string, unknown>[] = [
    { jwks_uri: undefined },
    { jwks_uri: JWKS_PATH },
    { jwks_uri: 42 },
    { jwks_uri: "file:///etc/passwd" },
    { issuer: null },
    { token_endpoint: "not a url" },
    { introspection_endpoint: undefined },
    { revocation_endpoint: {} },
  ];
  for (const changes of cases) {
    await withIssuer(
      (origin) => ({
        [METADATA_PATH]: metadata(origin, changes),
        [JWKS_PATH]: { keys: [] },
      }),
      async (origin) => {
        await assert.rejects(
          new IssuerClient(origin).jwks(),
          isIssuerResponse,
          JSON.stringify(changes),
        );
      },
    );
  }
});

Deno.test("IssuerClient: metadata naming another issuer than its URL is not used (RFC 8414 §3.3); the verifier trusts none of its keys", async () => {
  const pair = await generateKeyPair();
  const jwk = { ...pair.publicJwk, kid: "k1", alg: "EdDSA", use: "sig" };
  for (
    const issuer of [
      "https://issuer.example",
      (origin: string) => origin.replace("127.0.0.1", "localhost"),
      (origin: string) => `${origin}/`,
    ]
  ) {
    await withIssuer(
      (origin) => ({
        [METADATA_PATH]: metadata(origin, {
          issuer: typeof issuer === "string" ? issuer : issuer(origin),
        }),
        [JWKS_PATH]: { keys: [jwk] },
      }),
      async (origin) => {
        await assert.rejects(
          new IssuerClient(origin).metadata(),
          isIssuerResponse,
        );
        const token = await foreignToken(pair.privateKey);
        await assert.rejects(
          new TokenVerifier(new IssuerClient(origin)).verify(token, {
            audience: "api",
          }),
        );
      },
    );
  }
});

Deno.test("IssuerClient: a JWKS that is not an object, or whose keys are no array, is ERR_ISSUER_RESPONSE", async () => {
  for (const body of [null, [], { keys: null }, { keys: {} }]) {
    await withIssuer(
      (origin) => ({ [METADATA_PATH]: metadata(origin), [JWKS_PATH]: body }),
      async (origin) => {
        await assert.rejects(
          new IssuerClient(origin).jwks(),
          isIssuerResponse,
          JSON.stringify(body),
        );
      },
    );
  }
});

Deno.test("TokenVerifier: JWKS entries that are not objects are skipped like unusable keys", async () => {
  const key = await generateKeyPair();
  const jwk = { ...key.publicJwk, kid: "k1" };
  await withIssuer(
    (origin) => ({
      [METADATA_PATH]: metadata(origin),
      [JWKS_PATH]: { keys: [null, 7, "k0", [], jwk] },
    }),
    async (origin) => {
      const client = new IssuerClient(origin);
      const now = new Date();
      const iat = nowSeconds(now);
      const token = await signAccessToken({
        iss: origin,
        sub: "did:agent:agents.example.com:0123456789abcdef0123456789abcdef",
        aud: "https://api.example.com",
        scope: "read",
        client_id:
          "did:agent:agents.example.com:0123456789abcdef0123456789abcdef",
        iat,
        exp: iat + 600,
        jti: "t1",
        domain: "agents.example.com",
      }, { kid: "k1", privateKey: key.privateKey });
      const claims = await new TokenVerifier(client).verify(token, {
        audience: null,
        now,
      });
      assert.equal(claims.jti, "t1");
      assert.deepEqual((await client.jwks()).keys, [jwk]);
    },
  );
});

Deno.test("auth4agent verify: null metadata exits 4 with ERR_ISSUER_RESPONSE, not 70", async () => {
  const home = await Deno.makeTempDir();
  try {
    const pair = await generateKeyPair();
    // A well-formed token: a malformed one is refused before any request.
    const token = await foreignToken(pair.privateKey);
    await withIssuer(() => ({ [METADATA_PATH]: null }), async (origin) => {
      const { exit, stderr } = await runCli(
        ["--home", home, "verify", "--server", origin, "--token", token],
      );
      assert.equal(exit, EXIT.unavailable, stderr);
      assert.match(stderr, /\(ERR_ISSUER_RESPONSE\)/);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
