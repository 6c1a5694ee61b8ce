/**
 * For the home folder tests: the CLI run in-process (main.ts) with its own
 * environment, and a fake issuer (metadata, JWKS, health, registration) whose
 * key signs real tokens.
 */
import { main } from "../../main.ts";
import { signAccessToken } from "../../src/core/access_token.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { generateKeyPair, type KeyPair } from "../../src/core/keys.ts";

export interface Run {
  exit: number;
  stdout: string;
  stderr: string;
  /** The error code printed, if any. */
  code?: string;
}

export async function run(
  args: string[],
  options: { fetch?: typeof fetch; env?: Record<string, string> } = {},
): Promise<Run> {
  let stdout = "";
  let stderr = "";
  const exit = await main(args, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: (name) => options.env?.[name],
    now: () => new Date(),
    fetch: options.fetch ??
      (() => Promise.reject(new Error("no network in this test"))),
  });
  const code = /\((ERR_[A-Z_]+)\)\s*$/.exec(stderr)?.[1];
  return { exit, stdout, stderr, code };
}

export const ISSUER = "https://issuer.test";
export const OPERATOR_ID = `op_${"ab".repeat(16)}`;
const DID = `did:agent:example.com:${"cd".repeat(16)}`;

export interface FakeIssuer {
  fetch: typeof fetch;
  /** A token signed by `key` (default: the issuer's) under `kid`, valid for 10 minutes. */
  token(kid?: string, key?: KeyPair): Promise<string>;
}

/** An issuer answering discovery, its JWKS (one key, kid `k1`), health and operator registration (after `registerDelayMs`). */
export async function fakeIssuer(
  options: { registerDelayMs?: number } = {},
): Promise<FakeIssuer> {
  const key = await generateKeyPair();
  const fetch = async (input: string | URL | Request) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const path = url.pathname;
    if (path === "/.well-known/oauth-authorization-server") {
      // It names itself by whatever URL it is asked at (RFC 8414 §3.3).
      const issuer = url.origin;
      return Response.json({
        issuer,
        token_endpoint: `${issuer}/oauth/token`,
        jwks_uri: `${issuer}/jwks`,
        introspection_endpoint: `${issuer}/oauth/introspect`,
        revocation_endpoint: `${issuer}/oauth/revoke`,
      });
    }
    if (path === "/jwks") {
      return Response.json({ keys: [{ ...key.publicJwk, kid: "k1" }] });
    }
    if (path === "/healthz") return Response.json({ status: "ok" });
    if (path === "/v1/nonce") return Response.json({ nonce: "n1" });
    if (path === "/v1/operators") {
      await new Promise((resolve) =>
        setTimeout(resolve, options.registerDelayMs ?? 0)
      );
      return Response.json({
        operator_id: OPERATOR_ID,
        domain: "example.com",
        verified: false,
      }, { status: 201 });
    }
    return Response.json({}, { status: 404 });
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    token: (kid = "k1", signer = key) => {
      const iat = nowSeconds(new Date());
      return signAccessToken({
        iss: ISSUER,
        sub: DID,
        aud: "https://api.example.com",
        scope: "read",
        client_id: DID,
        iat,
        exp: iat + 600,
        jti: crypto.randomUUID(),
        domain: "example.com",
      }, { kid, privateKey: signer.privateKey });
    },
  };
}

/** A temporary folder for the test's homes, removed afterwards. */
export async function withTempDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-home-folder-" });
  try {
    await body(dir);
  } finally {
    await Deno.chmod(dir, 0o700).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}
