/**
 * Offline verification throughput, single core (run by bench/run.ts under
 * `taskset -c CPU deno bench --json`): the library/CLI verifier
 * (`TokenVerifier`, src/client/verifier.ts) with a warm JWKS cache, against
 * raw `jose.jwtVerify` making the same checks — EdDSA only, `typ: at+jwt`,
 * issuer, audience, expiry, the RFC 9068 claims present, `sub` = `client_id`,
 * and the required scope held.
 *
 * The token is a real access token signed by src/core/access_token.ts; the
 * verifier's HTTP client is given a `fetch` that answers discovery and JWKS
 * from memory, and one verification before the benches warms its cache, so
 * no network is timed.
 */
import * as jose from "jose";
import { IssuerClient } from "../src/client/issuer_client.ts";
import { TokenVerifier } from "../src/client/verifier.ts";
import { signAccessToken } from "../src/core/access_token.ts";
import { generateKeyPair } from "../src/core/keys.ts";
import { statusClaim } from "../src/core/status_list.ts";

const ISSUER = "http://127.0.0.1:8080";
const AUDIENCE = "api.example.com";
const SCOPE = "read:payments";
const DID = "did:agent:bench.example.com:0123456789abcdef0123456789abcdef";
const KID = "bench-key";

const key = await generateKeyPair();
const iat = Math.floor(Date.now() / 1000);
const token = await signAccessToken({
  iss: ISSUER,
  sub: DID,
  aud: AUDIENCE,
  scope: `${SCOPE} write:payments`,
  client_id: DID,
  iat,
  exp: iat + 3600,
  jti: "bench-jti-0001",
  domain: "bench.example.com",
  status: statusClaim(ISSUER, 4102),
}, { kid: KID, privateKey: key.privateKey });

const documents: Record<string, unknown> = {
  "/.well-known/oauth-authorization-server": {
    issuer: ISSUER,
    token_endpoint: `${ISSUER}/oauth/token`,
    jwks_uri: `${ISSUER}/.well-known/jwks.json`,
    introspection_endpoint: `${ISSUER}/oauth/introspect`,
    revocation_endpoint: `${ISSUER}/oauth/revoke`,
  },
  "/.well-known/jwks.json": {
    keys: [{ ...key.publicJwk, kid: KID, alg: "EdDSA", use: "sig" }],
  },
};
let fetches = 0;
const memoryFetch: typeof fetch = (input) => {
  fetches++;
  const path = new URL(input instanceof Request ? input.url : String(input))
    .pathname;
  const body = documents[path];
  return Promise.resolve(
    body ? Response.json(body) : new Response("not found", { status: 404 }),
  );
};

const verifier = new TokenVerifier(
  new IssuerClient(ISSUER, { fetch: memoryFetch }),
);
await verifier.verify(token, { audience: AUDIENCE, scopes: [SCOPE] }); // warm
const warmFetches = fetches;

const publicKey = key.publicKey;
const REQUIRED = [
  "iss",
  "sub",
  "aud",
  "scope",
  "client_id",
  "iat",
  "exp",
  "jti",
];

Deno.bench({
  name: "TokenVerifier.verify (warm JWKS cache)",
  group: "verify",
  async fn() {
    await verifier.verify(token, { audience: AUDIENCE, scopes: [SCOPE] });
  },
});

Deno.bench({
  name: "raw jose.jwtVerify (same checks)",
  group: "verify",
  baseline: true,
  async fn() {
    const { payload } = await jose.jwtVerify(token, publicKey, {
      algorithms: ["EdDSA"],
      typ: "at+jwt",
      issuer: ISSUER,
      audience: AUDIENCE,
      requiredClaims: REQUIRED,
    });
    if (payload.sub !== payload.client_id) throw new Error("sub ≠ client_id");
    if (!String(payload.scope).split(" ").includes(SCOPE)) {
      throw new Error("scope missing");
    }
  },
});

globalThis.addEventListener("unload", () => {
  if (fetches !== warmFetches) {
    console.error(
      `TokenVerifier fetched ${fetches - warmFetches} times after warm-up`,
    );
  }
});
