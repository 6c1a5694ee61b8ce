/**
 * Offline verification of access tokens against the issuer's JWKS: the keys
 * are fetched once, cached (in memory and, through `JwksCache`, on disk), and
 * refetched only when a token names an unknown `kid` or the cache is stale.
 * Every check is explicit (see core/access_token.ts).
 */
import { HeldStatusLists } from "../core/held_status_lists.ts";
import {
  type AccessTokenClaims,
  verifyAccessToken,
} from "../core/access_token.ts";
import { verifyDpopProof } from "../core/dpop.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { RecentFailure } from "../core/recent_failure.ts";
import { inspectJws, JWKS_MAX_AGE_SECONDS, nowSeconds } from "../core/jws.ts";
import {
  MAX_STATUS_LIST_JWS_LENGTH,
  STATUS_LISTS_PATH,
  statusAt,
  type StatusListToken,
  statusName,
  verifyStatusList,
} from "../core/status_list.ts";
import { parsePublicJwk } from "../core/keys.ts";
import { importPublicJwk } from "../core/keys.ts";
import type { IssuerClient, Jwks } from "./issuer_client.ts";
import {
  type RequestVerifyOptions,
  verifyRequestWith,
} from "./request_token.ts";
import { SeenProofs } from "./seen_proofs.ts";

export interface CachedJwks {
  issuer: string;
  keys: Jwks["keys"];
  fetched_at: string;
}

export interface JwksCache {
  load(): Promise<CachedJwks | undefined>;
  save(value: CachedJwks): Promise<void>;
}

/**
 * Keys older than this are refetched when the issuer can be reached (the
 * JWKS's own `max-age`), so a retired key stops being trusted.
 */
const MAX_KEYS_AGE_MS = JWKS_MAX_AGE_SECONDS * 1000;
/** Refetches (for an unknown `kid`, or of stale keys after a failure) start at most this often. */
const MIN_REFETCH_INTERVAL_MS = 30_000;
/**
 * With stale keys in hand, a refetch is waited for this long at most: an
 * issuer that answers gives fresh keys at once; one that drops packets
 * costs each call two seconds, not the request's fifteen (the refetch goes
 * on, and its keys are used once they come).
 */
const STALE_REFETCH_WAIT_MS = 2_000;
/**
 * With no keys at all, a failed fetch answers the calls that follow at once
 * for this long: an issuer dropping packets costs one caller the request's
 * timeout, not every call; an issuer back up is tried again soon.
 */
const NO_KEYS_RETRY_MS = 5_000;
/** Status lists kept (16 KiB of bits at most each): the most recently fetched. */
const MAX_CACHED_STATUS_LISTS = 64;

/** What TokenVerifier.verify checks beyond the signature and the issuer. */
export interface VerifyOptions {
  /** This API's identifier; `null` accepts any audience, deliberately. */
  audience: string | null;
  /** Every one of these must be granted. */
  scopes?: string[];
  /**
   * Take only tokens the issuer gave on a client attestation by one of
   * these attesters (the token's `attestation.iss`): agents whose runtime
   * the attester checked.
   */
  attesters?: string[];
  /**
   * Tokens the issuer gave its federation peers' agents (their
   * `federation.iss`): taken by default, refused with false, or taken
   * only from the peers listed.
   */
  federated?: boolean | string[];
  now?: Date;
  /** Also refuse tokens the issuer's status list says are revoked. */
  status?: boolean;
  /**
   * The request came with the `DPoP` authorization scheme (RFC 9449 §7):
   * its `DPoP` header (null when missing), method and URL. A token bound to
   * a key (`cnf.jkt`) is taken only with a proof by that key, and an
   * unbound one never with this scheme.
   */
  dpop?: { proof: string | null; method: string; url: string };
}

export interface TokenVerifierOptions {
  /** How many DPoP proofs in force it remembers (SeenProofs); DEFAULT_SEEN_PROOFS. */
  dpopProofCapacity?: number;
}

export class TokenVerifier {
  readonly #client: IssuerClient;
  readonly #cache?: JwksCache;
  #current?: CachedJwks;
  #keys = new Map<string, CryptoKey>();
  #lastFetchAttempt = -Infinity;
  /** The last failed fetch while no keys are held, answering for NO_KEYS_RETRY_MS. */
  readonly #failure = new RecentFailure(NO_KEYS_RETRY_MS);
  #refreshing?: Promise<CachedJwks>;
  /** Status lists by URI, with when (seconds, by the caller's clock) each was fetched. */
  #lists = new HeldStatusLists({
    max: MAX_CACHED_STATUS_LISTS,
    retryMs: NO_KEYS_RETRY_MS,
  });
  readonly #seenProofs: SeenProofs;

  constructor(
    client: IssuerClient,
    cache?: JwksCache,
    options: TokenVerifierOptions = {},
  ) {
    this.#client = client;
    this.#cache = cache;
    this.#seenProofs = new SeenProofs(options.dpopProofCapacity);
  }

  /** The issuer whose tokens this verifier takes. */
  get issuer(): string {
    return this.#client.server;
  }

  /** Refetches the keys; concurrent callers share one request. */
  #refresh(now: Date): Promise<CachedJwks> {
    this.#refreshing ??= this.#fetchKeys(now).finally(() => {
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  #refetchDue(now: Date): boolean {
    return now.getTime() - this.#lastFetchAttempt >= MIN_REFETCH_INTERVAL_MS;
  }

  async #fetchKeys(now: Date): Promise<CachedJwks> {
    this.#lastFetchAttempt = now.getTime();
    // In turn: jwks() reuses the metadata, so a down issuer costs one request.
    const metadata = await this.#client.metadata();
    const jwks = await this.#client.jwks();
    const value: CachedJwks = {
      issuer: metadata.issuer,
      keys: jwks.keys,
      fetched_at: now.toISOString(),
    };
    await this.#use(value);
    await this.#save(value);
    return value;
  }

  /**
   * The cached keys, when they are this issuer's and well formed: a cache
   * shared with another issuer, unreadable or holding anything else is as
   * good as none (its keys would be trusted for the issuer it names).
   */
  async #loadCache(): Promise<CachedJwks | undefined> {
    let value: CachedJwks | undefined;
    try {
      value = await this.#cache?.load();
    } catch (error) {
      // A refusal (a home folder others can write to) stands; a cache that
      // cannot be read is only missing.
      if (error instanceof Auth4AgentError) throw error;
      return undefined;
    }
    const wellFormed = typeof value === "object" && value !== null &&
      value.issuer === this.#client.server && Array.isArray(value.keys) &&
      typeof value.fetched_at === "string";
    return wellFormed ? value : undefined;
  }

  /** A cache that cannot be written (a read-only home, …) costs a refetch later, never the verification. */
  async #save(value: CachedJwks): Promise<void> {
    try {
      await this.#cache?.save(value);
    } catch {
      // Nothing to do: the keys in memory serve this verifier.
    }
  }

  async #use(value: CachedJwks): Promise<void> {
    const keys = new Map<string, CryptoKey>();
    for (const jwk of value.keys as unknown[]) {
      // A cache may hold anything: entries that are not objects are skipped too.
      if (typeof jwk !== "object" || jwk === null) continue;
      if (!("kid" in jwk) || typeof jwk.kid !== "string") continue;
      try {
        keys.set(jwk.kid, await importPublicJwk(parsePublicJwk(jwk)));
      } catch {
        // A key we cannot use is skipped; tokens naming it will fail.
      }
    }
    this.#current = value;
    this.#keys = keys;
  }

  /** A `fetched_at` later than now (saved while the clock was ahead) gives no age: stale. */
  static #fresh(value: CachedJwks | undefined, now: Date): value is CachedJwks {
    if (value === undefined) return false;
    const age = now.getTime() - Date.parse(value.fetched_at);
    return age >= 0 && age < MAX_KEYS_AGE_MS;
  }

  /**
   * The issuer's keys: in memory or on disk while fresh, else refetched;
   * stale ones only when offline, and without asking again until a refetch
   * is due.
   */
  async #issuerKeys(now: Date): Promise<CachedJwks> {
    if (TokenVerifier.#fresh(this.#current, now)) return this.#current;
    const cached = this.#current ?? await this.#loadCache();
    if (TokenVerifier.#fresh(cached, now)) {
      await this.#use(cached);
      return cached;
    }
    if (cached && !this.#refreshing && !this.#refetchDue(now)) {
      return await this.#stale(cached);
    }
    if (!cached) return await this.#firstKeys(now);
    const refresh = this.#refresh(now);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<undefined>((resolve) => {
      timer = setTimeout(resolve, STALE_REFETCH_WAIT_MS, undefined);
    });
    try {
      return await Promise.race([refresh, waited]) ?? await this.#stale(cached);
    } catch {
      return await this.#stale(cached);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * With no keys at all: fetched, shared by concurrent callers; after a
   * failure, the same failure for NO_KEYS_RETRY_MS (RecentFailure).
   */
  async #firstKeys(now: Date): Promise<CachedJwks> {
    const standing = this.#refreshing ? undefined : this.#failure.standing(now);
    if (standing) throw standing.error;
    return await this.#failure.track(now, () => this.#refresh(now));
  }

  /** Offline: stale keys beat none. */
  async #stale(cached: CachedJwks): Promise<CachedJwks> {
    if (cached !== this.#current) await this.#use(cached);
    return cached;
  }

  /**
   * Verifies an access token offline for `audience` — this API's identifier,
   * or `null` to accept tokens for any audience, deliberately (RFC 9068 §4
   * has resource servers check `aud`; a forgotten audience is refused rather
   * than read as "any") — and every one of `scopes`. With `status`, also
   * refuses a token that the issuer's status list (draft-ietf-oauth-status-
   * list) says is revoked: the list is fetched once per its `ttl` (60 s), and
   * while the issuer cannot be reached (or answers 5xx or 429) a list is used until it expires.
   */
  async verify(
    token: string,
    options: VerifyOptions,
  ): Promise<AccessTokenClaims> {
    if (options?.audience === undefined) {
      fail(
        "ERR_USAGE",
        "verify() needs an audience: this API's identifier, or null to accept tokens for any audience",
      );
    }
    const now = options.now ?? new Date();
    // Before any keys are fetched, garbage costs no request to the issuer.
    if (!this.#current) inspectJws(token, "ERR_TOKEN_INVALID");
    const { issuer } = await this.#issuerKeys(now);
    const claims = await verifyAccessToken(token, {
      issuer,
      now,
      audience: options.audience ?? undefined,
      scopes: options.scopes,
      attesters: options.attesters,
      federated: options.federated,
      key: (kid) => this.#key(kid, now),
    });
    this.#checkBinding(token, claims, options.dpop, now);
    if (options.status) await this.#checkStatus(claims, issuer, now);
    return claims;
  }

  /**
   * The sender constraint (RFC 9449 §7): a bound token only with a proof,
   * made for this request and this token, by the key it is bound to, and
   * not seen before; an unbound token never as a DPoP one.
   */
  #checkBinding(
    token: string,
    claims: AccessTokenClaims,
    dpop: VerifyOptions["dpop"],
    now: Date,
  ): void {
    if (!claims.cnf) {
      if (dpop) {
        fail(
          "ERR_TOKEN_INVALID",
          "the token is not DPoP-bound: present it with the Bearer scheme",
        );
      }
      return;
    }
    if (!dpop) {
      fail(
        "ERR_TOKEN_INVALID",
        "the token is DPoP-bound (cnf.jkt): present it with the DPoP scheme and a proof",
      );
    }
    const proof = verifyDpopProof(dpop.proof, {
      method: dpop.method,
      url: dpop.url,
      now,
      accessToken: token,
    });
    if (proof.jkt !== claims.cnf.jkt) {
      fail(
        "ERR_DPOP_PROOF_INVALID",
        "the DPoP proof is signed by another key than the one the token is bound to",
      );
    }
    const id = `${proof.jkt}.${proof.jti}`;
    if (
      !this.#seenProofs.firstUse(
        id,
        proof.replayableUntil,
        nowSeconds(now),
        claims.client_id,
      )
    ) {
      fail(
        "ERR_DPOP_PROOF_INVALID",
        "this DPoP proof was used before: make a new one for each request",
      );
    }
  }

  /**
   * Verifies the access token of a request to this API, as its
   * `Authorization` header presents it: `Bearer` or `DPoP` with its proof
   * (request_token.ts). A refusal carries the status and challenge to
   * answer with.
   */
  verifyRequest(
    request: Request,
    options: RequestVerifyOptions,
  ): Promise<AccessTokenClaims> {
    return verifyRequestWith(
      (token, verifyOptions) => this.verify(token, verifyOptions),
      request,
      options,
    );
  }

  /** A key of the issuer by `kid`, refetching the JWKS for an unknown one when due. */
  async #key(kid: string, now: Date): Promise<CryptoKey | undefined> {
    const due = this.#refreshing !== undefined || this.#refetchDue(now);
    if (!this.#keys.has(kid) && due) {
      try {
        await this.#refresh(now);
      } catch {
        // Unknown kid and the issuer is unreachable: the token fails below.
      }
    }
    return this.#keys.get(kid);
  }

  /** Refuses the token when its bit in the issuer's status list is set (§8.3). */
  async #checkStatus(
    claims: AccessTokenClaims,
    issuer: string,
    now: Date,
  ): Promise<void> {
    const ref = claims.status?.status_list;
    if (!ref) {
      fail(
        "ERR_STATUS_LIST_INVALID",
        "the token names no status list (issued before status lists): check it online",
      );
    }
    // Only the issuer's own lists are fetched: a token cannot send us elsewhere.
    const prefix = `${issuer}${STATUS_LISTS_PATH}/`;
    if (
      !ref.uri.startsWith(prefix) ||
      !/^(0|[1-9][0-9]{0,8})$/.test(ref.uri.slice(prefix.length))
    ) {
      fail(
        "ERR_STATUS_LIST_INVALID",
        `the token's status list ${ref.uri} is not one of its issuer's`,
      );
    }
    const list = await this.#statusList(ref.uri, now);
    const status = statusAt(list.bits, list.width, ref.idx);
    if (status === undefined) {
      fail("ERR_STATUS_LIST_INVALID", "the token's index is beyond its list");
    }
    if (status !== 0) {
      fail(
        "ERR_TOKEN_INACTIVE",
        `the issuer's status list says the token is ${statusName(status)}`,
      );
    }
  }

  /**
   * The list at `uri`, held as core/held_status_lists.ts says, and never
   * once its key has left the JWKS.
   */
  #statusList(uri: string, now: Date): Promise<StatusListToken> {
    return this.#lists.get(uri, now, {
      fetch: () => this.#fetchStatusList(uri, now),
      usable: (list) => this.#keys.has(list.kid),
      isOutage: (error) =>
        error instanceof Auth4AgentError &&
        error.code === "ERR_ISSUER_UNREACHABLE",
      older: () =>
        new Auth4AgentError(
          "ERR_STATUS_LIST_INVALID",
          "the issuer answered an older status list than one already seen",
        ),
    });
  }

  async #fetchStatusList(uri: string, now: Date): Promise<StatusListToken> {
    const jwt = await this.#client.statusList(uri);
    const { header } = inspectJws(jwt, "ERR_STATUS_LIST_INVALID", {
      maxLength: MAX_STATUS_LIST_JWS_LENGTH,
    });
    // A list signed by a key newer than ours: the JWKS is refetched first.
    if (typeof header.kid === "string") await this.#key(header.kid, now);
    return verifyStatusList(jwt, {
      uri,
      key: (kid) => this.#keys.get(kid),
      now,
    });
  }
}
