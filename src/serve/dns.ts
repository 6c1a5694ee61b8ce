/**
 * TXT lookups for domain verification: the system resolver, or the one named
 * by `--dns-server HOST:PORT`. The answer is data from outside and is capped
 * before anything compares it.
 */
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import { Auth4AgentError } from "../core/errors.ts";
import { MAX_TXT_RECORDS } from "../core/dns_challenge.ts";

/** Resolves the TXT records of a name: each record as its character-strings; [] when none. */
export type TxtResolver = (name: string) => Promise<string[][]>;

export interface NameServer {
  /** An IP address, or a host name looked up when first needed. */
  host: string;
  port: number;
}

/** A host name by RFC 1123 labels; a numeric last label is a bad IP, not a name. */
function isHostName(host: string): boolean {
  const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  const labels = host.split(".");
  return host.length <= 253 && labels.every((l) => label.test(l)) &&
    !/^[0-9]+$/.test(labels.at(-1)!);
}

/** `HOST:PORT`: an IPv4 address, `[IPv6]` or a host name, and a port. */
export function parseNameServer(value: string): NameServer {
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):([0-9]{1,5})$/.exec(value);
  const [, ipv6, other] = match ?? [];
  const host = ipv6 ?? other ?? "";
  const port = match ? Number(match[3]) : 0;
  const hostValid = ipv6 !== undefined
    ? isIP(ipv6) === 6
    : isIP(host) === 4 || isHostName(host);
  if (!hostValid || port < 1 || port > 65535) {
    throw new Auth4AgentError(
      "ERR_CONFIG",
      `--dns-server must be HOST:PORT (e.g. 127.0.0.1:53, [::1]:53 or ns1.example.com:53), not ${
        JSON.stringify(value)
      }`,
    );
  }
  return { host, port };
}

/**
 * The name server's address for Deno.resolveDns, which takes an IP: a host
 * name goes through the system's lookup (hosts file included), IPv4 first.
 */
async function nameServerAddress(
  server: NameServer,
): Promise<{ ipAddr: string; port: number }> {
  if (isIP(server.host)) return { ipAddr: server.host, port: server.port };
  let addresses: { address: string; family: number }[];
  try {
    addresses = await lookup(server.host, { all: true });
  } catch (cause) {
    throw new Auth4AgentError(
      "ERR_DNS_LOOKUP_FAILED",
      `the DNS server ${server.host} (--dns-server) has no address`,
      { cause },
    );
  }
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (!chosen) {
    throw new Auth4AgentError(
      "ERR_DNS_LOOKUP_FAILED",
      `the DNS server ${server.host} (--dns-server) has no address`,
    );
  }
  return { ipAddr: chosen.address, port: server.port };
}

export function systemTxtResolver(server?: NameServer): TxtResolver {
  // Looked up once; again after a failed lookup or query, in case it moved.
  let address: Promise<{ ipAddr: string; port: number }> | undefined;
  return async (name) => {
    const nameServer = server
      ? await (address ??= nameServerAddress(server)).catch((error) => {
        address = undefined;
        throw error;
      })
      : undefined;
    try {
      const records = await Deno.resolveDns(name, "TXT", {
        nameServer,
        signal: AbortSignal.timeout(5000),
      });
      return records.slice(0, MAX_TXT_RECORDS);
    } catch (cause) {
      if (cause instanceof Deno.errors.NotFound) return [];
      address = undefined;
      throw new Auth4AgentError(
        "ERR_DNS_LOOKUP_FAILED",
        `DNS lookup of ${name} TXT failed`,
        { cause },
      );
    }
  };
}
