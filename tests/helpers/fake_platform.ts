/**
 * A platform that gives its workloads JWTs (as Kubernetes or a CI system
 * does), or an attester that gives client attestations, on 127.0.0.1:
 * OpenID discovery and a JWKS over real HTTP, and `mint` to sign a JWT with
 * its key (RS256 unless told).
 */
import * as jose from "jose";

export interface FakePlatform {
  /** Its issuer identifier: `http://127.0.0.1:PORT`. */
  issuer: string;
  /** Signs a workload token: iss and a 10-minute exp unless given. */
  mint(
    claims: Record<string, unknown>,
    options?: {
      kid?: string | null;
      alg?: string;
      key?: CryptoKey;
      /** The clock it is minted by (a test's); default now. */
      now?: Date;
      /** The header's typ (an attestation's `oauth-client-attestation+jwt`); default none. */
      typ?: string;
    },
  ): Promise<string>;
  /** Paths asked, in order. */
  requests: string[];
  /** Replace what its JWKS answers (a key rotation). */
  setKeys(keys: jose.JWK[]): void;
  publicJwk: jose.JWK;
  close(): Promise<void>;
}

export async function startFakePlatform(
  options: { alg?: "RS256" | "ES256" | "EdDSA" } = {},
): Promise<FakePlatform> {
  const alg = options.alg ?? "RS256";
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, {
    extractable: true,
  });
  const publicJwk = { ...await jose.exportJWK(publicKey), kid: "k1", alg };
  let keys: jose.JWK[] = [publicJwk];
  const requests: string[] = [];
  let issuer = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      requests.push(path);
      if (path === "/.well-known/openid-configuration") {
        return Response.json({ issuer, jwks_uri: `${issuer}/jwks` });
      }
      if (path === "/jwks") return Response.json({ keys });
      return new Response("not found", { status: 404 });
    },
  );
  issuer = `http://127.0.0.1:${server.addr.port}`;
  return {
    issuer,
    requests,
    publicJwk,
    setKeys: (next) => void (keys = next),
    async mint(claims, mintOptions = {}) {
      const now = Math.floor((mintOptions.now ?? new Date()).getTime() / 1000);
      const kid = mintOptions.kid === undefined ? "k1" : mintOptions.kid;
      return await new jose.SignJWT({
        iss: issuer,
        iat: now,
        exp: now + 600,
        ...claims,
      })
        .setProtectedHeader({
          alg: mintOptions.alg ?? alg,
          ...(kid !== null && { kid }),
          ...(mintOptions.typ !== undefined && { typ: mintOptions.typ }),
        })
        .sign(mintOptions.key ?? privateKey);
    },
    close: () => server.shutdown(),
  };
}
