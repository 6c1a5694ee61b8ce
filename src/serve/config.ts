/**
 * Server configuration: one documented defaults object, overridden by
 * `AUTH4AGENT_*` environment variables and then by flags, and validated once
 * at start-up so a bad value fails at boot with one clear message.
 */
import { utf8Length } from "../core/encoding.ts";
import { Auth4AgentError } from "../core/errors.ts";
import {
  DEFAULT_TOKEN_TTL_SECONDS,
  MAX_TOKEN_TTL_SECONDS,
} from "../core/access_token.ts";
import { type NameServer, parseNameServer } from "./dns.ts";
import { platformUrlProblem } from "./foreign_issuers.ts";

export interface ServeConfig {
  host: string;
  port: number;
  /** SQLite database file, or a postgres:// URL. */
  db: string;
  /** Issuer identifier; default `http://HOST:PORT` as bound. */
  issuer?: string;
  dnsServer?: NameServer;
  /** Requests per second per client (per IP: 10×); 0 turns rate limiting off. */
  rateLimit: number;
  /** Longest access-token lifetime, in seconds. */
  tokenTtl: number;
  /** Lifetime of a token challenge, in seconds (at most 300). */
  challengeTtl: number;
  /** File holding the key-encryption key for signing keys at rest. */
  kekFile?: string;
  /** Platforms whose workload tokens are traded for agents' tokens (workload federation). */
  workloadIssuers: string[];
  /** Attesters whose client attestations this issuer takes (client attestation). */
  clientAttesters: string[];
  /** The federation file: the issuers trusted for other domains' agents (federation.ts). */
  federationFile?: string;
}

export const DEFAULTS = {
  host: "localhost",
  port: 8080,
  db: "auth4agent.db",
  rateLimit: 20,
  tokenTtl: DEFAULT_TOKEN_TTL_SECONDS,
  challengeTtl: 120,
} as const;

/** Flag values as given (strings), before validation. */
export interface RawServeOptions {
  host?: string;
  port?: string;
  db?: string;
  issuer?: string;
  dnsServer?: string;
  rateLimit?: string;
  tokenTtl?: string;
  keyEncryptionKeyFile?: string;
  federationFile?: string;
  /** Repeatable flags; the environment variables hold them space-separated. */
  workloadIssuer?: string[];
  clientAttester?: string[];
}

const ENV = {
  host: "AUTH4AGENT_HOST",
  port: "AUTH4AGENT_PORT",
  db: "AUTH4AGENT_DB",
  issuer: "AUTH4AGENT_ISSUER",
  dnsServer: "AUTH4AGENT_DNS_SERVER",
  rateLimit: "AUTH4AGENT_RATE_LIMIT",
  tokenTtl: "AUTH4AGENT_TOKEN_TTL",
  keyEncryptionKeyFile: "AUTH4AGENT_KEK_FILE",
  federationFile: "AUTH4AGENT_FEDERATION_FILE",
  workloadIssuer: "AUTH4AGENT_WORKLOAD_ISSUERS",
  clientAttester: "AUTH4AGENT_CLIENT_ATTESTERS",
} as const satisfies Record<keyof RawServeOptions, string>;

function bad(message: string): never {
  throw new Auth4AgentError("ERR_CONFIG", message);
}

function integer(
  name: string,
  value: string,
  min: number,
  max: number,
): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
    bad(
      `${name} must be an integer from ${min} to ${max}, not ${
        JSON.stringify(value)
      }`,
    );
  }
  return Number(value);
}

export function resolveServeConfig(
  flags: RawServeOptions,
  env: (name: string) => string | undefined,
): ServeConfig {
  const pick = (
    name: Exclude<keyof RawServeOptions, "workloadIssuer" | "clientAttester">,
  ) => flags[name] ?? env(ENV[name]);
  const list = (name: "workloadIssuer" | "clientAttester") =>
    flags[name] ?? env(ENV[name])?.split(/\s+/).filter(Boolean) ?? [];
  const host = pick("host") ?? DEFAULTS.host;
  if (!/^[A-Za-z0-9.:-]+$/.test(host)) {
    bad(`--host ${JSON.stringify(host)} is not a host name or address`);
  }
  const port = integer(
    "--port",
    pick("port") ?? String(DEFAULTS.port),
    0,
    65535,
  );
  const db = pick("db") ?? DEFAULTS.db;
  if (db.length === 0) bad("--db must name a SQLite file or a postgres:// URL");
  const issuerValue = pick("issuer");
  let issuer: string | undefined;
  if (issuerValue !== undefined) {
    let url: URL;
    try {
      url = new URL(issuerValue);
    } catch {
      bad(
        `--issuer must be an absolute URL, not ${JSON.stringify(issuerValue)}`,
      );
    }
    if (
      !/^https?:$/.test(url.protocol) || url.search || url.hash ||
      url.username || url.password
    ) {
      bad(
        "--issuer must be an http(s) URL without query, fragment or credentials (RFC 8414 §2)",
      );
    }
    if (url.pathname !== "/") {
      // Discovery and did:web both derive well-known URLs from the bare host.
      bad(
        "--issuer must not have a path (e.g. https://auth.example.com); serve the issuer at the root of a host",
      );
    }
    issuer = url.origin;
  }
  const dnsServerValue = pick("dnsServer");
  const rateLimit = integer(
    "--rate-limit",
    pick("rateLimit") ?? String(DEFAULTS.rateLimit),
    0,
    1_000_000,
  );
  const tokenTtl = integer(
    "--token-ttl",
    pick("tokenTtl") ?? String(DEFAULTS.tokenTtl),
    10,
    MAX_TOKEN_TTL_SECONDS,
  );
  return {
    host,
    port,
    db,
    issuer,
    dnsServer: dnsServerValue ? parseNameServer(dnsServerValue) : undefined,
    rateLimit,
    tokenTtl,
    challengeTtl: DEFAULTS.challengeTtl,
    kekFile: pick("keyEncryptionKeyFile"),
    federationFile: pick("federationFile"),
    workloadIssuers: foreignIssuers(
      "--workload-issuer",
      list("workloadIssuer"),
    ),
    clientAttesters: foreignIssuers(
      "--client-attester",
      list("clientAttester"),
    ),
  };
}

const MAX_FOREIGN_ISSUER_BYTES = 512;

/**
 * `--workload-issuer URL`, `--client-attester URL`: issuer identifiers of
 * others, kept exactly as given (their JWTs' `iss` is compared byte for
 * byte).
 */
function foreignIssuers(flag: string, values: string[]): string[] {
  for (const value of values) {
    // Bindings and grants name it (endpoints/workload_identities.ts, agents.ts).
    if (utf8Length(value) > MAX_FOREIGN_ISSUER_BYTES) {
      bad(`${flag} must be at most ${MAX_FOREIGN_ISSUER_BYTES} bytes`);
    }
    const problem = platformUrlProblem(value);
    if (problem) bad(`${flag} ${JSON.stringify(value)} ${problem}`);
  }
  return [...new Set(values)];
}

/**
 * The issuer identifier of a server bound without --issuer: exactly
 * `http://HOST:PORT`, HOST being --host as given when it is a name (clients
 * use that name, and RFC 8414 §3.3 has them compare the identifier with the
 * URL they used), else the address bound; PORT is the port bound.
 */
export function issuerForAddress(
  host: string,
  bound: { hostname: string; port: number },
): string {
  const name = isIpAddress(host) ? bound.hostname : host;
  const authority = name.includes(":") ? `[${name}]` : name;
  return `http://${authority}:${bound.port}`;
}

function isIpAddress(host: string): boolean {
  return host.includes(":") || /^[0-9.]+$/.test(host);
}
