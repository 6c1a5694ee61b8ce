/**
 * Federation trust: other issuers this one trusts to speak for the agents of
 * some domains. The administrator names each peer (its issuer identifier),
 * the domains whose agents it vouches for, and the scopes this issuer grants
 * those agents at most, in the federation file (`serve --federation-file`).
 * An agent of such a domain, registered at the peer and nowhere here, trades
 * the peer's access token (audience: this issuer) for a token of this
 * issuer (grants/federation.ts): deny by default, within the scopes of both.
 */
import { parseDomain } from "../core/domain.ts";
import { utf8Length } from "../core/encoding.ts";
import { unverifiedIssuer } from "../core/jws.ts";
import { Auth4AgentError } from "../core/errors.ts";
import { MAX_SCOPES, parseScopeParam } from "../core/scope.ts";
import {
  FEDERATED_ISSUER,
  ForeignIssuers,
  platformUrlProblem,
} from "./foreign_issuers.ts";
import { ForeignStatusLists } from "./foreign_status_lists.ts";

export interface FederationPeer {
  /** Its issuer identifier: its tokens' `iss`, byte for byte, and where its metadata is. */
  issuer: string;
  /** The domains (canonical) whose agents it speaks for here. */
  domains: readonly string[];
  /** The most this issuer grants those agents. */
  scopes: readonly string[];
}

const MAX_PEERS = 64;
const MAX_PEER_DOMAINS = 256;
const MAX_ISSUER_BYTES = 512;
export const MAX_FEDERATION_FILE_BYTES = 256 * 1024;

/** The peers, their keys and their status lists. */
export class Federation {
  readonly #peers: ReadonlyMap<string, FederationPeer>;
  readonly issuers: ForeignIssuers;
  readonly statusLists: ForeignStatusLists;

  constructor(
    peers: readonly FederationPeer[],
    options: {
      fetch?: typeof fetch;
      log?: (line: Record<string, unknown>) => void;
    } = {},
  ) {
    this.#peers = new Map(peers.map((peer) => [peer.issuer, peer]));
    this.issuers = new ForeignIssuers(peers.map((peer) => peer.issuer), {
      ...options,
      role: FEDERATED_ISSUER,
    });
    this.statusLists = new ForeignStatusLists(this.issuers, options);
  }

  get peers(): FederationPeer[] {
    return [...this.#peers.values()];
  }

  /**
   * Whether a jwt-bearer request's `assertion` names a peer as its `iss`
   * (read, not trusted: grants/federation.ts checks it), so that it is
   * traded as a federated token rather than a workload's.
   */
  fromPeer(params: Map<string, string>): boolean {
    if (this.#peers.size === 0) return false;
    const iss = unverifiedIssuer(params.get("assertion"));
    return iss !== undefined && this.#peers.has(iss);
  }

  /**
   * Where a token given for a peer's agent stands now: "untrusted" once the
   * file no longer trusts its peer for its domain, "revoked" once the peer's
   * status list says the traded token is not valid, "unreachable" while that
   * list cannot be had. Introspection and the mirroring of revocations ask.
   */
  async standing(
    token: { peer: string; domain: string; status: unknown },
    now: Date,
  ): Promise<"stands" | "untrusted" | "revoked" | "unreachable"> {
    if (!this.peer(token.peer)?.domains.includes(token.domain)) {
      return "untrusted";
    }
    try {
      await this.statusLists.requireUnrevoked(token.peer, token.status, now);
      return "stands";
    } catch (error) {
      if (!(error instanceof Auth4AgentError)) throw error;
      return error.code === this.issuers.role.unreachable
        ? "unreachable"
        : "revoked";
    }
  }

  /** The peer whose identifier `iss` is, byte for byte. */
  peer(iss: string): FederationPeer | undefined {
    return this.#peers.get(iss);
  }
}

function bad(file: string, message: string): never {
  throw new Auth4AgentError("ERR_CONFIG", `${file}: ${message}`);
}

/**
 * The federation file, as JSON:
 * `{"peers": [{"issuer": URL, "domains": [...], "scopes": [...]}]}`. Every
 * value is checked; anything unknown is refused rather than ignored (a
 * misspelt key must not widen or narrow trust unseen).
 */
export function parseFederationFile(
  text: string,
  file: string,
): FederationPeer[] {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (cause) {
    bad(file, `not JSON: ${(cause as Error).message}`);
  }
  const root = objectWith(document, ["peers"], file, "the file");
  if (!Array.isArray(root.peers) || root.peers.length > MAX_PEERS) {
    bad(file, `peers must be an array of at most ${MAX_PEERS} peers`);
  }
  const peers = root.peers.map((entry, index) =>
    parsePeer(entry, file, `peers[${index}]`)
  );
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.issuer)) bad(file, `${peer.issuer} is listed twice`);
    seen.add(peer.issuer);
  }
  return peers;
}

function parsePeer(
  entry: unknown,
  file: string,
  where: string,
): FederationPeer {
  const peer = objectWith(entry, ["issuer", "domains", "scopes"], file, where);
  const { issuer } = peer;
  if (typeof issuer !== "string" || utf8Length(issuer) > MAX_ISSUER_BYTES) {
    bad(
      file,
      `${where}.issuer must be a URL of at most ${MAX_ISSUER_BYTES} bytes`,
    );
  }
  const problem = platformUrlProblem(issuer);
  if (problem) {
    bad(file, `${where}.issuer ${JSON.stringify(issuer)} ${problem}`);
  }
  // Compared byte for byte with its tokens' iss, which an issuer at the
  // root of a host writes without the slash (serve --issuer, RFC 8414 §2).
  const origin = new URL(issuer).origin;
  if (issuer === `${origin}/`) {
    bad(
      file,
      `${where}.issuer ${
        JSON.stringify(issuer)
      }: write it as its tokens' iss, ${origin} (no trailing slash)`,
    );
  }
  return {
    issuer,
    domains: stringList(
      peer.domains,
      file,
      `${where}.domains`,
      MAX_PEER_DOMAINS,
    )
      .map((domain) => {
        try {
          const canonical = parseDomain(domain);
          if (canonical !== domain) throw new Error(`write it ${canonical}`);
          return canonical;
        } catch (cause) {
          return bad(
            file,
            `${where}.domains: ${JSON.stringify(domain)}: ${
              (cause as Error).message
            }`,
          );
        }
      }),
    scopes: scopeList(peer.scopes, file, `${where}.scopes`),
  };
}

/** Each item exactly one scope token (not two joined by a space, not none). */
function scopeList(value: unknown, file: string, where: string): string[] {
  const scopes = stringList(value, file, where, Infinity);
  if (scopes.length > MAX_SCOPES) {
    bad(file, `${where}: at most ${MAX_SCOPES} scopes are allowed`);
  }
  return scopes.map((scope) => {
    let parsed: string[];
    try {
      parsed = parseScopeParam(scope);
    } catch (cause) {
      return bad(file, `${where}: ${(cause as Error).message}`);
    }
    if (parsed.length !== 1 || parsed[0] !== scope) {
      bad(file, `${where}: ${JSON.stringify(scope)} is not one scope`);
    }
    return scope;
  });
}

function objectWith(
  value: unknown,
  keys: readonly string[],
  file: string,
  where: string,
): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    bad(file, `${where} must be an object`);
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keys.includes(key)) {
      bad(
        file,
        `${where} has an unknown key ${JSON.stringify(key)} (${
          keys.join(", ")
        })`,
      );
    }
  }
  for (const key of keys) {
    if (!(key in record)) bad(file, `${where} needs ${key}`);
  }
  return record;
}

function stringList(
  value: unknown,
  file: string,
  where: string,
  max: number,
): string[] {
  if (
    !Array.isArray(value) || value.length === 0 || value.length > max ||
    !value.every((item) => typeof item === "string") ||
    new Set(value).size !== value.length
  ) {
    bad(
      file,
      `${where} must be a non-empty array of distinct strings${
        max === Infinity ? "" : ` (at most ${max})`
      }`,
    );
  }
  return value;
}

/** Reads and parses the federation file (`--federation-file`); none: no peers. */
export async function loadFederationFile(
  file: string | undefined,
): Promise<FederationPeer[]> {
  if (file === undefined) return [];
  if (file === "") bad(file, "--federation-file must name a file");
  let text: string;
  try {
    const bytes = await Deno.readFile(file);
    if (bytes.length > MAX_FEDERATION_FILE_BYTES) {
      bad(file, `larger than ${MAX_FEDERATION_FILE_BYTES} bytes`);
    }
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    if (cause instanceof Auth4AgentError) throw cause;
    bad(file, `cannot be read: ${(cause as Error).message}`);
  }
  return parseFederationFile(text, file);
}
