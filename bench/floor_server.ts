/**
 * The HTTP floor: what Deno.serve alone costs per request of flow (b)'s
 * shape. `POST /oauth/token` does the HTTP work of our token endpoint and
 * nothing else: route on the path (`new URL(request.url)`, as serve does),
 * `readForm` from src/serve/http.ts (the same Content-Type check, body limit
 * and deadline, form parsing), check that `client_assertion` is present, and
 * answer with `json` a canned token response of our shape and size — with
 * `Pragma: no-cache`, errors through `errorResponse`. No crypto, no SQLite.
 *
 * Started by bench/run.ts with the flags of our server (bench/ours.ts),
 * pinned to the server CPU:
 *   deno run --quiet <SERVE_PERMISSIONS> bench/floor_server.ts
 * It binds 127.0.0.1 on a free port and prints a JSON "listening" line on
 * stderr (`issuer`, `address`, and the canned token's length).
 */
import { Auth4AgentError } from "../src/core/errors.ts";
import { errorResponse, json, readForm } from "../src/serve/http.ts";

const TOKEN_PATH = "/oauth/token";
/** As in bench/ours.ts (not imported: this process loads http.ts only). */
const DOMAIN = "bench.example.com";
const SCOPE = "read:payments";
const RESOURCE = "https://api.example.com";
const TTL_SECONDS = 900;

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const encode = (value: unknown) =>
  b64url(new TextEncoder().encode(JSON.stringify(value)));

/** An access token of ours in shape and size: our header and claims, 64 random bytes as the signature. */
function cannedToken(issuer: string): string {
  const did = `did:agent:${DOMAIN}:${
    Array.from(random(16), (b) => b.toString(16).padStart(2, "0")).join("")
  }`;
  const iat = Math.floor(Date.now() / 1000);
  const header = { alg: "EdDSA", typ: "at+jwt", kid: b64url(random(32)) };
  const claims = {
    iss: issuer,
    sub: did,
    aud: RESOURCE,
    scope: SCOPE,
    client_id: did,
    iat,
    exp: iat + TTL_SECONDS,
    jti: Date.now().toString(36).padStart(9, "0") + b64url(random(12)),
    domain: DOMAIN,
    status: {
      status_list: { idx: 4102, uri: `${issuer}/oauth/status-lists/0` },
    },
  };
  return `${encode(header)}.${encode(claims)}.${b64url(random(64))}`;
}

let body: Record<string, unknown> = {};

async function token(request: Request): Promise<Response> {
  const params = await readForm(request);
  if (!params.get("client_assertion")) {
    throw new Auth4AgentError(
      "ERR_INVALID_CLIENT",
      "client_assertion is required",
    );
  }
  return json(body, 200, { Pragma: "no-cache" });
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen: () => {} },
  async (request) => {
    try {
      if (
        request.method !== "POST" ||
        new URL(request.url).pathname !== TOKEN_PATH
      ) {
        throw new Auth4AgentError("ERR_NOT_FOUND", "only POST /oauth/token");
      }
      return await token(request);
    } catch (error) {
      if (error instanceof Auth4AgentError) return errorResponse(error);
      return json(
        { error: "server_error", error_description: String(error) },
        500,
      );
    }
  },
);
const addr = server.addr as Deno.NetAddr;
const issuer = `http://${addr.hostname}:${addr.port}`;
const accessToken = cannedToken(issuer);
body = {
  access_token: accessToken,
  token_type: "Bearer",
  expires_in: TTL_SECONDS,
  scope: SCOPE,
};
console.error(JSON.stringify({
  time: new Date().toISOString(),
  level: "info",
  msg: "listening",
  issuer,
  address: `${addr.hostname}:${addr.port}`,
  accessTokenChars: accessToken.length,
}));
