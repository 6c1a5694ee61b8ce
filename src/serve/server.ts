/**
 * `auth4agent serve`: binds the socket, opens the store and keys, serves the
 * app, sweeps expired challenges, and on SIGTERM/SIGINT finishes in-flight
 * requests and closes the database before exiting.
 */
import { StatusListCache } from "./status_list_cache.ts";
import { StatusIndexes } from "./status_indexes.ts";
import { describeDb, openStore } from "../store/open.ts";
import type { Store } from "../store/store.ts";
import { VERSION } from "../version.ts";
import { createApp } from "./app.ts";
import { issuerForAddress, type ServeConfig } from "./config.ts";
import type { AppDeps } from "./context.ts";
import { systemTxtResolver, type TxtResolver } from "./dns.ts";
import { RateLimiter } from "./rate_limit.ts";
import { KEY_RELOAD_SECONDS, KeyRing } from "./signing_keys.ts";
import { CLIENT_ATTESTER, ForeignIssuers } from "./foreign_issuers.ts";
import { ForeignStatusLists } from "./foreign_status_lists.ts";
import {
  mirrorPeerRevocations,
  PEER_REVOCATIONS_INTERVAL_MS,
} from "./federation_revocations.ts";
import {
  Federation,
  type FederationPeer,
  loadFederationFile,
} from "./federation.ts";
import { Auth4AgentError } from "../core/errors.ts";

const SWEEP_INTERVAL_MS = 60_000;
/** Per-IP limits are this multiple of the per-client ones. */
const IP_FACTOR = 10;
const MIN_BURST = 50;

export interface RunningServer {
  issuer: string;
  port: number;
  /** Resolves once the server has stopped and the store is closed. */
  finished: Promise<void>;
  /** Re-reads the signing keys now (after `serve keys rotate`). */
  reloadKeys(): Promise<void>;
  shutdown(): Promise<void>;
}

export function defaultLog(line: Record<string, unknown>): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), ...line }));
}

export async function startServer(
  config: ServeConfig,
  options: {
    store?: Store;
    resolveTxt?: TxtResolver;
    now?: () => Date;
    log?: (line: Record<string, unknown>) => void;
    /** Key-encryption key for the signing keys at rest. */
    kek?: CryptoKey;
    /** The federation peers; default: config.federationFile's. */
    federation?: FederationPeer[];
    /** How often peers' revocations are mirrored (ms); PEER_REVOCATIONS_INTERVAL_MS. */
    peerRevocationsIntervalMs?: number;
  } = {},
): Promise<RunningServer> {
  const now = options.now ?? (() => new Date());
  const log = options.log ?? defaultLog;
  const peers = options.federation ??
    await loadFederationFile(config.federationFile);
  // Bound first: a start refused for its address must not have opened (and
  // migrated) the database that a running server of another version uses.
  // Until the app is ready, requests are answered 503.
  const app: { handler?: ReturnType<typeof createApp> } = {};
  const server = listen(
    config,
    (request, info) =>
      app.handler
        ? app.handler(request, { remoteIp: info.remoteAddr.hostname })
        : starting(),
  );
  const addr = server.addr as Deno.NetAddr;
  const issuer = config.issuer ?? issuerForAddress(config.host, addr);
  let store: Store | undefined;
  let keys: KeyRing;
  try {
    requireOneRoleEach(config, peers, issuer);
    store = options.store ?? await openStore(config.db, { serving: true });
    keys = await KeyRing.open(store, now(), {
      kek: options.kek,
      tokenTtl: config.tokenTtl,
    });
  } catch (error) {
    await server.shutdown();
    if (store && !options.store) await store.close();
    throw error;
  }
  const burst = Math.max(MIN_BURST, config.rateLimit);
  const workloadIssuers = new ForeignIssuers(config.workloadIssuers, { log });
  const deps: AppDeps = {
    store,
    keys,
    statusIndexes: new StatusIndexes(store),
    statusLists: new StatusListCache(),
    issuer,
    now,
    resolveTxt: options.resolveTxt ?? systemTxtResolver(config.dnsServer),
    limits: {
      perClient: new RateLimiter(config.rateLimit, burst),
      perIp: new RateLimiter(config.rateLimit * IP_FACTOR, burst * IP_FACTOR),
    },
    tokenTtl: config.tokenTtl,
    challengeTtl: config.challengeTtl,
    workloadIssuers,
    workloadStatusLists: new ForeignStatusLists(workloadIssuers, { log }),
    clientAttesters: new ForeignIssuers(config.clientAttesters, {
      log,
      role: CLIENT_ATTESTER,
    }),
    federation: new Federation(peers, { log }),
    version: VERSION,
    log,
  };
  app.handler = createApp(deps);
  const sweeper = setInterval(() => {
    store.sweep(now()).catch((error) =>
      log({ level: "error", msg: "sweep failed", error: String(error) })
    );
  }, SWEEP_INTERVAL_MS);
  const reloader = setInterval(() => {
    keys.reload(deps.now()).catch((error) =>
      log({ level: "error", msg: "key reload failed", error: String(error) })
    );
  }, KEY_RELOAD_SECONDS * 1000);
  // Federated tokens the peers revoked since (one run at a time).
  let mirroring: Promise<unknown> | undefined;
  const stopMirroring = new AbortController();
  const mirrorer = setInterval(() => {
    mirroring ??= mirrorPeerRevocations(deps, stopMirroring.signal).catch((
      error,
    ) =>
      log({
        level: "error",
        msg: "peer revocations not mirrored",
        error: String(error),
      })
    ).finally(() => mirroring = undefined);
  }, options.peerRevocationsIntervalMs ?? PEER_REVOCATIONS_INTERVAL_MS);
  let stopping: Promise<void> | undefined;
  const shutdown = () => {
    stopping ??= (async () => {
      log({ level: "info", msg: "stopping: finishing in-flight requests" });
      clearInterval(sweeper);
      clearInterval(reloader);
      clearInterval(mirrorer);
      stopMirroring.abort();
      await mirroring;
      await server.shutdown();
      await store.close();
      log({ level: "info", msg: "stopped" });
    })();
    return stopping;
  };
  log({
    level: "info",
    msg: "listening",
    issuer: deps.issuer,
    address: `${addr.hostname}:${addr.port}`,
    db: describeDb(config.db),
    ...(config.workloadIssuers.length > 0 &&
      { workload_issuers: config.workloadIssuers }),
    ...(config.clientAttesters.length > 0 &&
      { client_attesters: config.clientAttesters }),
    ...(peers.length > 0 &&
      { federation_peers: peers.map((peer) => peer.issuer) }),
    ...(config.dnsServer &&
      { dns_server: `${config.dnsServer.host}:${config.dnsServer.port}` }),
  });
  return {
    issuer: deps.issuer,
    port: addr.port,
    finished: server.finished.then(() => stopping),
    shutdown,
    reloadKeys: async () => {
      await keys.reload(deps.now());
      log({
        level: "info",
        msg: "signing keys reloaded",
        current: keys.signingKey(deps.now()).kid,
      });
    },
  };
}

/**
 * A federation peer is trusted for its agents' identities; a workload
 * platform's tokens name workloads bound one by one: one issuer is not both
 * (a jwt-bearer token would be read one way or the other by its `iss`), nor
 * this issuer itself.
 */
function requireOneRoleEach(
  config: ServeConfig,
  peers: readonly FederationPeer[],
  issuer: string | undefined,
): void {
  for (const peer of peers) {
    if (config.workloadIssuers.includes(peer.issuer)) {
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `${peer.issuer} is both a federation peer and a --workload-issuer: trust it as one`,
      );
    }
    if (peer.issuer === issuer) {
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `${peer.issuer} is this issuer: it is no federation peer of its own`,
      );
    }
  }
}

/** The answer while the server binds before its store is open. */
function starting(): Response {
  return new Response(
    JSON.stringify({
      error: "temporarily_unavailable",
      error_description: "the issuer is starting",
    }),
    {
      status: 503,
      headers: { "Content-Type": "application/json", "Retry-After": "1" },
    },
  );
}

/** Deno.serve on the configured address; one already taken is the operator's to change. */
function listen(
  config: ServeConfig,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): Deno.HttpServer<Deno.NetAddr> {
  try {
    return Deno.serve(
      { hostname: config.host, port: config.port, onListen: () => {} },
      handler,
    );
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      throw new Auth4AgentError(
        "ERR_CONFIG",
        `${config.host}:${config.port} is in use (another issuer?): give --port another port, or 0 for any`,
        { cause: error },
      );
    }
    throw error;
  }
}
