/**
 * Our side of the benchmark: the real `auth4agent serve` (from source, with
 * its real SQLite file, rate limits off) pinned to the server CPU, and the
 * identities the load needs — one operator with a verified domain (the TXT
 * record answered by a loopback DNS server) and agents with a scope grant —
 * set up through the issuer's HTTP API with `IssuerClient`, as the CLI does.
 */
import { IssuerClient, type Signer } from "../src/client/issuer_client.ts";
import { didForKey } from "../src/core/did.ts";
import { type Ed25519PublicJwk, generateKeyPair } from "../src/core/keys.ts";
import {
  startDnsServer,
  type TestDnsServer,
} from "../tests/helpers/dns_server.ts";
import { pinned, type Started, startListening } from "./procs.ts";

export const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const MAIN = `${REPO}/main.ts`;
/** The flags of `deno task serve`: its permissions and its V8 heap settings. */
export const SERVE_PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50",
];

export const DOMAIN = "bench.example.com";
export const SCOPE = "read:payments";
/** What flow (b) asks for: `resource` (RFC 8707) — the same parameter for us and the peer. */
export const RESOURCE = "https://api.example.com";

export interface Agent {
  clientId: string;
  privateKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
  pkcs8Pem: string;
}

export interface OurServer {
  name: "auth4agent";
  process: Started;
  issuer: string;
  port: number;
  paths: { token: string; introspect: string; challenge: string };
  dns: TestDnsServer;
  operator: { id: string; signer: Signer };
  agents: Agent[];
  stop(): Promise<void>;
}

export async function startOurServer(
  options: {
    db: string;
    cpu?: number;
    dnsServer: string;
    extraArgs?: string[];
    /** Flags for `deno run` itself, e.g. `--inspect` for bench/profile.ts. */
    denoFlags?: string[];
  },
): Promise<Started> {
  const command = pinned(options.cpu, Deno.execPath(), [
    "run",
    "--quiet",
    ...(options.denoFlags ?? []),
    ...SERVE_PERMISSIONS,
    MAIN,
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--db",
    options.db,
    "--rate-limit",
    "0",
    "--dns-server",
    options.dnsServer,
    ...(options.extraArgs ?? []),
  ]);
  return await startListening(command.cmd, command.args, { cwd: REPO });
}

/** An operator of DOMAIN, registered and verified through the DNS record. */
export async function verifiedOperator(
  client: IssuerClient,
  dns: TestDnsServer,
): Promise<{ id: string; signer: Signer }> {
  const key = await generateKeyPair();
  const registered = await client.registerOperator(DOMAIN, {
    privateKey: key.privateKey,
    publicJwk: key.publicJwk,
  });
  const signer = { privateKey: key.privateKey, kid: registered.operator_id };
  const { dns_record } = await client.dnsRecord(registered.operator_id, signer);
  dns.setTxt(dns_record.name, [[dns_record.value]]);
  const verified = await client.verifyDomain(registered.operator_id, signer);
  if (!verified.verified) throw new Error("the operator was not verified");
  return { id: registered.operator_id, signer };
}

/** Registers `count` agents under the operator and grants each SCOPE. */
export async function registerAgents(
  client: IssuerClient,
  operator: { id: string; signer: Signer },
  count: number,
): Promise<Agent[]> {
  const agents: Agent[] = [];
  for (let i = 0; i < count; i++) {
    const key = await generateKeyPair();
    const did = await didForKey(DOMAIN, key.publicJwk);
    await client.registerAgent(did, operator.id, {
      privateKey: key.privateKey,
      publicJwk: key.publicJwk,
    });
    await client.setAgentScopes(did, [SCOPE], operator.signer);
    agents.push({
      clientId: did,
      privateKey: key.privateKey,
      publicJwk: key.publicJwk,
      pkcs8Pem: key.pem,
    });
  }
  return agents;
}

export async function setUpOurs(
  options: { db: string; cpu?: number; agents: number; denoFlags?: string[] },
): Promise<OurServer> {
  const dns = await startDnsServer();
  const process = await startOurServer({
    db: options.db,
    cpu: options.cpu,
    dnsServer: dns.address,
    denoFlags: options.denoFlags,
  }).catch(async (error) => {
    await dns.close();
    throw error;
  });
  const stop = async () => {
    await process.stop();
    await dns.close();
  };
  try {
    const issuer = String(process.info.issuer);
    const port = Number(String(process.info.address).split(":").pop());
    const client = new IssuerClient(`http://127.0.0.1:${port}`);
    const operator = await verifiedOperator(client, dns);
    const agents = await registerAgents(client, operator, options.agents);
    return {
      name: "auth4agent",
      process,
      issuer,
      port,
      paths: {
        token: "/oauth/token",
        introspect: "/oauth/introspect",
        challenge: "/v1/challenges",
      },
      dns,
      operator,
      agents,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
