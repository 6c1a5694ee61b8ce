/**
 * TXT lookups for domain verification: the system resolver, or the one named
 * by `--dns-server HOST:PORT`. The answer is data from outside and is capped
 * before anything compares it.
 */
import { Auth4AgentError } from "../core/errors.ts";
import { MAX_TXT_RECORDS } from "../core/dns_challenge.ts";

/** Resolves the TXT records of a name: each record as its character-strings; [] when none. */
export type TxtResolver = (name: string) => Promise<string[][]>;

export interface NameServer {
  ipAddr: string;
  port: number;
}

export function parseNameServer(value: string): NameServer {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(value);
  const port = match ? Number(match[3]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new Auth4AgentError(
      "ERR_CONFIG",
      `--dns-server must be IP:PORT (e.g. 127.0.0.1:53 or [::1]:53), not ${
        JSON.stringify(value)
      }`,
    );
  }
  return { ipAddr: match[1] ?? match[2]!, port };
}

export function systemTxtResolver(nameServer?: NameServer): TxtResolver {
  return async (name) => {
    try {
      const records = await Deno.resolveDns(name, "TXT", {
        nameServer,
        signal: AbortSignal.timeout(5000),
      });
      return records.slice(0, MAX_TXT_RECORDS);
    } catch (cause) {
      if (cause instanceof Deno.errors.NotFound) return [];
      throw new Auth4AgentError(
        "ERR_DNS_LOOKUP_FAILED",
        `DNS lookup of ${name} TXT failed`,
        { cause },
      );
    }
  };
}
