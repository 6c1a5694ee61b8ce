/**
 * Offline verification of access tokens against the issuer's JWKS: the keys
 * are fetched once, cached (in memory and, through `JwksCache`, on disk), and
 * refetched only when a token names an unknown `kid` or the cache is stale.
 * Every check is explicit (see core/access_token.ts).
 */
import {
  type AccessTokenClaims,
  verifyAccessToken,
} from "../core/access_token.ts";
import { parsePublicJwk } from "../core/keys.ts";
import { importPublicJwk } from "../core/keys.ts";
import type { IssuerClient, Jwks } from "./issuer_client.ts";

export interface CachedJwks {
  issuer: string;
  keys: Jwks["keys"];
  fetched_at: string;
}

export interface JwksCache {
  load(): Promise<CachedJwks | undefined>;
  save(value: CachedJwks): Promise<void>;
}

/** Keys older than this are refetched when the issuer can be reached. */
const MAX_CACHE_AGE_MS = 3_600_000;

export class TokenVerifier {
  readonly #client: IssuerClient;
  readonly #cache?: JwksCache;
  #current?: CachedJwks;
  #keys = new Map<string, CryptoKey>();
  #refreshed = false;

  constructor(client: IssuerClient, cache?: JwksCache) {
    this.#client = client;
    this.#cache = cache;
  }

  async #refresh(): Promise<CachedJwks> {
    const [metadata, jwks] = await Promise.all([
      this.#client.metadata(),
      this.#client.jwks(),
    ]);
    const value: CachedJwks = {
      issuer: metadata.issuer,
      keys: jwks.keys,
      fetched_at: new Date().toISOString(),
    };
    this.#refreshed = true;
    await this.#use(value);
    await this.#cache?.save(value);
    return value;
  }

  async #use(value: CachedJwks): Promise<void> {
    const keys = new Map<string, CryptoKey>();
    for (const jwk of value.keys) {
      if (typeof jwk.kid !== "string") continue;
      try {
        keys.set(jwk.kid, await importPublicJwk(parsePublicJwk(jwk)));
      } catch {
        // A key we cannot use is skipped; tokens naming it will fail.
      }
    }
    this.#current = value;
    this.#keys = keys;
  }

  async #issuerKeys(now: Date): Promise<CachedJwks> {
    if (this.#current) return this.#current;
    const cached = await this.#cache?.load();
    if (
      cached && now.getTime() - Date.parse(cached.fetched_at) < MAX_CACHE_AGE_MS
    ) {
      await this.#use(cached);
      return cached;
    }
    try {
      return await this.#refresh();
    } catch (error) {
      if (!cached) throw error;
      await this.#use(cached); // offline: stale keys beat none
      return cached;
    }
  }

  async verify(
    token: string,
    options: { audience?: string; scopes?: string[]; now?: Date } = {},
  ): Promise<AccessTokenClaims> {
    const now = options.now ?? new Date();
    const { issuer } = await this.#issuerKeys(now);
    return await verifyAccessToken(token, {
      issuer,
      now,
      audience: options.audience,
      scopes: options.scopes,
      key: async (kid) => {
        if (!this.#keys.has(kid) && !this.#refreshed) {
          try {
            await this.#refresh();
          } catch {
            // Unknown kid and the issuer is unreachable: the token fails below.
          }
        }
        return this.#keys.get(kid);
      },
    });
  }
}
