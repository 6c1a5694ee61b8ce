/**
 * The issuer as third-party software meets it: the real server on a loopback
 * socket (port 0, temporary SQLite database, rate limiting off), one operator
 * whose domain is verified through a fake TXT resolver, and one registered
 * agent with a grant. The agent's private key is written to `keys/agent.key`
 * as a PKCS#8 PEM file, the way `auth4agent init` leaves it, so that tests
 * read it back as a user of a standard library would.
 */
import * as oauth from "oauth4webapi";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { didForKey } from "../../src/core/did.ts";
import { type Ed25519PublicJwk, generateKeyPair } from "../../src/core/keys.ts";
import { resolveServeConfig } from "../../src/serve/config.ts";
import { type RunningServer, startServer } from "../../src/serve/server.ts";

export const DOMAIN = "interop.example";

export interface Fixture {
  /** The issuer identifier, e.g. `http://127.0.0.1:41234`. */
  issuer: string;
  server: RunningServer;
  dir: string;
  client: IssuerClient;
  operator: { id: string; privateKey: CryptoKey; publicJwk: Ed25519PublicJwk };
  agent: {
    did: string;
    /** Path of the agent's PKCS#8 PEM private key file. */
    keyFile: string;
    publicJwk: Ed25519PublicJwk;
    scopes: string[];
  };
}

/** Starts the issuer with a verified operator and one agent granted `scopes`. */
export async function startIssuer(scopes: string[]): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-interop-" });
  const txt = new Map<string, string[][]>();
  const config = resolveServeConfig(
    { host: "127.0.0.1", port: "0", db: `${dir}/issuer.db`, rateLimit: "0" },
    () => undefined,
  );
  const server = await startServer(config, {
    resolveTxt: (name) => Promise.resolve(txt.get(name) ?? []),
    log: () => {},
  });
  try {
    const client = new IssuerClient(server.issuer);

    const operatorKeys = await generateKeyPair();
    const registered = await client.registerOperator(DOMAIN, operatorKeys);
    const operatorId = registered.operator_id;
    const operatorSigner = {
      privateKey: operatorKeys.privateKey,
      kid: operatorId,
    };
    const { dns_record } = await client.dnsRecord(operatorId, operatorSigner);
    txt.set(dns_record.name, [[dns_record.value]]);
    const verified = await client.verifyDomain(operatorId, operatorSigner);
    if (!verified.verified) {
      throw new Error("the fixture's domain did not verify");
    }

    const agentKeys = await generateKeyPair();
    const did = await didForKey(DOMAIN, agentKeys.publicJwk);
    await Deno.mkdir(`${dir}/keys`, { mode: 0o700 });
    const keyFile = `${dir}/keys/agent.key`;
    await Deno.writeTextFile(keyFile, agentKeys.pem, { mode: 0o600 });
    await client.registerAgent(did, operatorId, agentKeys);
    await client.setAgentScopes(did, scopes, operatorSigner);

    return {
      issuer: server.issuer,
      server,
      dir,
      client,
      operator: {
        id: operatorId,
        privateKey: operatorKeys.privateKey,
        publicJwk: operatorKeys.publicJwk,
      },
      agent: { did, keyFile, publicJwk: agentKeys.publicJwk, scopes },
    };
  } catch (error) {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

export async function stopIssuer(fx: Fixture): Promise<void> {
  await fx.server.shutdown();
  await Deno.remove(fx.dir, { recursive: true });
}

/** Runs `body` against a fresh issuer and always stops it afterwards. */
export async function withIssuer(
  scopes: string[],
  body: (fx: Fixture) => Promise<void>,
): Promise<void> {
  const fx = await startIssuer(scopes);
  try {
    await body(fx);
  } finally {
    await stopIssuer(fx);
  }
}

/**
 * Reads a PKCS#8 PEM file into a non-extractable WebCrypto Ed25519 signing
 * key with nothing but WebCrypto, as any user of a standard library can.
 */
export async function readPkcs8PemFile(path: string): Promise<CryptoKey> {
  const pem = await Deno.readTextFile(path);
  const base64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----|\s+/g, "");
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "Ed25519" },
    false,
    [
      "sign",
    ],
  );
}

/** oauth4webapi options for the plain-http loopback issuer. */
export const HTTP = { [oauth.allowInsecureRequests]: true } as const;

/** RFC 8414 discovery with oauth4webapi, as a standard client does it. */
export async function discover(
  fx: Fixture,
): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(fx.issuer);
  const response = await oauth.discoveryRequest(issuer, {
    algorithm: "oauth2",
    ...HTTP,
  });
  return await oauth.processDiscoveryResponse(issuer, response);
}
