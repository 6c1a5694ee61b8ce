/** What every endpoint is given: explicit dependencies, the clock included. */
import { STATUS_LISTS_PATH } from "../core/status_list.ts";
import type { Store } from "../store/store.ts";
import type { TxtResolver } from "./dns.ts";
import type { RateLimiter } from "./rate_limit.ts";
import type { KeyRing } from "./signing_keys.ts";
import type { StatusIndexes } from "./status_indexes.ts";
import type { StatusListCache } from "./status_list_cache.ts";
import type { ForeignIssuers } from "./foreign_issuers.ts";
import type { ForeignStatusLists } from "./foreign_status_lists.ts";
import type { Federation } from "./federation.ts";

export interface AppDeps {
  store: Store;
  keys: KeyRing;
  /** Numbers for new tokens' status list entries. */
  statusIndexes: StatusIndexes;
  /** Signed status lists, kept a few seconds; told of revocations made here. */
  statusLists: StatusListCache;
  /** Issuer identifier: the `iss` of every token, byte for byte. */
  issuer: string;
  now: () => Date;
  resolveTxt: TxtResolver;
  limits: { perClient: RateLimiter; perIp: RateLimiter };
  tokenTtl: number;
  challengeTtl: number;
  /** The platforms whose workload tokens may be traded for agents' tokens, and their keys. */
  workloadIssuers: ForeignIssuers;
  /** Their Token Status Lists: a revoked workload token is not traded. */
  workloadStatusLists: ForeignStatusLists;
  /** The attesters whose client attestations are taken, and their keys. */
  clientAttesters: ForeignIssuers;
  /** The issuers trusted to speak for other domains' agents (federation trust). */
  federation: Federation;
  version: string;
  /** Diagnostics (never secrets); defaults to stderr. */
  log: (line: Record<string, unknown>) => void;
}

/** What the edge knows of the request besides the Request itself. */
export interface RequestInfo {
  remoteIp: string;
}

export function endpointUrl(deps: AppDeps, path: string): string {
  return deps.issuer + path;
}

export const PATHS = {
  metadata: "/.well-known/oauth-authorization-server",
  jwks: "/.well-known/jwks.json",
  didWeb: "/.well-known/did.json",
  health: "/healthz",
  token: "/oauth/token",
  introspect: "/oauth/introspect",
  revoke: "/oauth/revoke",
  nonce: "/v1/nonce",
  challenges: "/v1/challenges",
  operators: "/v1/operators",
  agents: "/v1/agents",
  statusLists: STATUS_LISTS_PATH,
} as const;
