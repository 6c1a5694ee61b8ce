/**
 * The benchmark's peer: panva's oidc-provider (9.x), configured for the flow
 * auth4agent serves — `client_credentials` with `private_key_jwt` client
 * authentication (EdDSA, clients registered with their Ed25519 public JWKs),
 * JWT access tokens signed with Ed25519 (RFC 9068 `at+jwt`), replay
 * detection of client-assertion `jti`s, and introspection (RFC 7662).
 *
 * Run by bench/peer.ts with Node: `node bench/peer/server.mjs CONFIG.json`.
 * CONFIG: { clients: [{ client_id, jwk }], scope, jwtResource,
 * opaqueResource, lruMaxSize }. Prints one JSON line
 * `{"msg":"listening","issuer":…,"address":"127.0.0.1:PORT"}` to stderr.
 *
 * Storage is oidc-provider's own MemoryAdapter (in memory, lost on exit).
 * Its default instance is an LRU of 1,000 entries shared by every model:
 * under load it forgets unexpired assertion `jti`s (so a replay gets through
 * once 1,000–2,000 other entries were stored) and the opaque tokens that
 * introspection looks up. The bench gives the same MemoryAdapter class an
 * LRU that does not evict during the run, so replay detection is as strict
 * as ours and every introspected token is still there.
 */
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import process from "node:process";
import Provider from "oidc-provider";
import MemoryAdapter from "oidc-provider/lib/adapters/memory_adapter.js";
import LRU from "oidc-provider/lib/helpers/lru.js";

const CLOCK_TOLERANCE = 15; // oidc-provider's default, in seconds

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));

// The issuer identifier must be known before the Provider is built, and it
// names the port: bind first, then hand requests to the provider.
const handler = { callback: undefined };
const server = http.createServer((req, res) => handler.callback(req, res));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const signingKey = generateKeyPairSync("ed25519").privateKey.export({
  format: "jwk",
});

const store = new LRU({ maxSize: config.lruMaxSize });
const resourceServers = {
  // Flow (b): JWT access tokens signed with Ed25519.
  [config.jwtResource]: {
    scope: config.scope,
    audience: config.jwtResource,
    accessTokenFormat: "jwt",
    jwt: { sign: { alg: "EdDSA" } },
  },
  // Flow (c): oidc-provider refuses to introspect structured (JWT) tokens
  // ("Structured JWT Tokens cannot be introspected"), so the tokens it
  // introspects are its opaque ones, stored in the adapter.
  [config.opaqueResource]: {
    scope: config.scope,
    audience: config.opaqueResource,
    accessTokenFormat: "opaque",
  },
};

const provider = new Provider(issuer, {
  adapter: (name) => new MemoryAdapter(name, store, CLOCK_TOLERANCE),
  clockTolerance: CLOCK_TOLERANCE,
  clients: config.clients.map(({ client_id, jwk }) => ({
    client_id,
    token_endpoint_auth_method: "private_key_jwt",
    token_endpoint_auth_signing_alg: "EdDSA",
    grant_types: ["client_credentials"],
    response_types: [],
    redirect_uris: [],
    scope: config.scope,
    jwks: { keys: [{ kty: "OKP", crv: "Ed25519", x: jwk.x, use: "sig" }] },
  })),
  clientAuthMethods: ["private_key_jwt"],
  // The only key is Ed25519, so everything it signs is EdDSA.
  clientDefaults: { id_token_signed_response_alg: "EdDSA" },
  jwks: { keys: [{ ...signingKey, kid: "peer-ed25519", use: "sig" }] },
  scopes: [config.scope],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator) => {
        const info = resourceServers[resourceIndicator];
        if (!info) throw new Provider.errors.InvalidTarget();
        return info;
      },
    },
  },
});
provider.on("server_error", (_ctx, error) => {
  console.error(JSON.stringify({ msg: "server_error", error: String(error) }));
});
handler.callback = provider.callback();

const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

console.error(JSON.stringify({
  msg: "listening",
  issuer,
  address: `127.0.0.1:${port}`,
  oidc_provider: JSON.parse(
    readFileSync(
      new URL(
        "./node_modules/oidc-provider/package.json",
        import.meta.url,
      ),
      "utf8",
    ),
  ).version,
  node: process.version,
}));
