/**
 * Issuers of others whose signing keys this issuer fetches: the platforms it
 * trusts for workload federation (`serve --workload-issuer URL`) and the
 * attesters it trusts for client attestation (`serve --client-attester
 * URL`). Keys are found through the issuer's OpenID configuration (RFC 8414
 * metadata where it has none), kept 5 minutes, refetched for an unknown
 * `kid` at most every 30 s. While an issuer cannot be reached, the keys held
 * serve up to a day (its tokens cannot be checked otherwise); never keys a
 * token names itself.
 */
import { Auth4AgentError, type ErrorCode, fail } from "../core/errors.ts";
import { type ForeignKey, foreignKey } from "../core/foreign_keys.ts";
import type { ForeignAlg } from "../core/foreign_keys.ts";
import { readCappedBody } from "../core/capped_body.ts";
import { RecentFailure } from "../core/recent_failure.ts";
import { isSurelyLoopback, mayBeThisHost } from "../core/this_host.ts";
import { fromUtf8 } from "../core/encoding.ts";

const KEYS_MAX_AGE_MS = 5 * 60_000;
const NO_KEYS_RETRY_MS = 5_000;
const MIN_REFETCH_INTERVAL_MS = 30_000;
const STALE_KEYS_MAX_AGE_MS = 24 * 3_600_000;
const FETCH_TIMEOUT_MS = 5_000;
/** Metadata and key sets larger than this are refused unread. */
const MAX_DOCUMENT_BYTES = 64 * 1024;
const MAX_KEYS = 100;

/**
 * A platform URL we may fetch: https, or http to this host only (a test
 * platform, a local OIDC discovery proxy); no credentials, no fragment.
 * Undefined when acceptable, else why not.
 */
export function platformUrlProblem(value: string): string | undefined {
  if (!URL.canParse(value)) return "is not an absolute URL";
  const url = new URL(value);
  // An empty `?` or `#` leaves search and hash empty: look at the text.
  if (url.username || url.password || /[?#]/.test(value)) {
    return "must not carry credentials, a query or a fragment";
  }
  if (
    url.protocol !== "https:" &&
    !(url.protocol === "http:" && isSurelyLoopback(value))
  ) {
    return "must be https (http only to localhost)";
  }
  return undefined;
}

/** What a JWT names of the key that signed it. */
export interface KeyReference {
  iss: string;
  kid?: string;
  alg: ForeignAlg;
}

/** What the issuers are to this server: the words and error codes of refusals. */
export interface IssuerRole {
  /** "workload platform", "client attester": in messages and the log. */
  noun: string;
  /** Its JWTs, in messages: "workload token", "client attestation". */
  token: string;
  untrusted: ErrorCode;
  invalid: ErrorCode;
  unreachable: ErrorCode;
}

export const WORKLOAD_PLATFORM: IssuerRole = {
  noun: "workload platform",
  token: "workload token",
  untrusted: "ERR_WORKLOAD_ISSUER_UNTRUSTED",
  invalid: "ERR_WORKLOAD_TOKEN_INVALID",
  unreachable: "ERR_WORKLOAD_ISSUER_UNREACHABLE",
};

export const CLIENT_ATTESTER: IssuerRole = {
  noun: "client attester",
  token: "client attestation",
  untrusted: "ERR_CLIENT_ATTESTATION_INVALID",
  invalid: "ERR_CLIENT_ATTESTATION_INVALID",
  unreachable: "ERR_CLIENT_ATTESTER_UNREACHABLE",
};

export const FEDERATED_ISSUER: IssuerRole = {
  noun: "federated issuer",
  token: "federated token",
  untrusted: "ERR_FEDERATION_NOT_TRUSTED",
  invalid: "ERR_FEDERATED_TOKEN_INVALID",
  unreachable: "ERR_FEDERATED_ISSUER_UNREACHABLE",
};

interface HeldKeys {
  jwks: Record<string, unknown>[];
  fetchedAt: number;
  /** Keys built from `jwks`, by kid and alg: found ones only (misses cost a scan of ≤ 100 keys, and no memory). */
  built: Map<string, ForeignKey>;
}

export class ForeignIssuers {
  readonly #fetch: typeof fetch;
  readonly #held = new Map<string, HeldKeys>();
  readonly #lastAttempt = new Map<string, number>();
  readonly #refreshing = new Map<string, Promise<HeldKeys>>();
  /** Per issuer, its last failed fetch: with no keys held it answers for NO_KEYS_RETRY_MS. */
  readonly #failures: ReadonlyMap<string, RecentFailure>;
  readonly #log: (line: Record<string, unknown>) => void;
  /** What they are to this server: its words and codes. */
  readonly role: IssuerRole;
  /** The trusted issuer identifiers, exactly as configured. */
  readonly issuers: readonly string[];

  constructor(
    issuers: readonly string[],
    options: {
      fetch?: typeof fetch;
      /** Where why a fetch failed goes: the caller is told less. */
      log?: (line: Record<string, unknown>) => void;
      /** WORKLOAD_PLATFORM unless said. */
      role?: IssuerRole;
    } = {},
  ) {
    this.role = options.role ?? WORKLOAD_PLATFORM;
    this.issuers = [...issuers];
    this.#failures = new Map(
      issuers.map((issuer) => [issuer, new RecentFailure(NO_KEYS_RETRY_MS)]),
    );
    this.#fetch = options.fetch ?? fetch;
    this.#log = options.log ?? (() => {});
  }

  trusts(issuer: string): boolean {
    return this.issuers.includes(issuer);
  }

  /**
   * Whether the keys held of `issuer`, as last fetched (nothing is fetched
   * here), include one of `kid`: what it signed with is still published.
   */
  publishes(issuer: string, kid: string): boolean {
    return this.#held.get(issuer)?.jwks.some((jwk) => jwk.kid === kid) ??
      false;
  }

  /** The key of the token's issuer that its `kid` (or, without one, its `alg`) names. */
  async key(token: KeyReference, now: Date): Promise<ForeignKey> {
    const role = this.role;
    if (!this.trusts(token.iss)) {
      fail(
        role.untrusted,
        `this issuer does not trust ${role.token}s of ${token.iss}`,
      );
    }
    let held = await this.#keys(token.iss, now);
    let key = pick(held, token);
    if (!key && this.#refetchDue(token.iss, now)) {
      held = await this.#refresh(token.iss, now).catch(() => held);
      key = pick(held, token);
    }
    if (!key) {
      const several = token.kid === undefined &&
        held.jwks.filter((jwk) => fits(jwk, token.alg)).length > 1;
      fail(
        role.invalid,
        several
          ? `${token.iss} publishes several ${token.alg} keys: the ${role.token} needs a kid to name its own`
          : `${token.iss} publishes no ${token.alg} key${
            token.kid === undefined
              ? ""
              : ` with kid ${JSON.stringify(token.kid)}`
          }`,
      );
    }
    return key;
  }

  async #keys(issuer: string, now: Date): Promise<HeldKeys> {
    const held = this.#held.get(issuer);
    const age = held ? now.getTime() - held.fetchedAt : Infinity;
    if (held && age >= 0 && age < KEYS_MAX_AGE_MS) return held;
    if (
      held && !this.#refetchDue(issuer, now) && !this.#refreshing.has(issuer)
    ) {
      if (age < STALE_KEYS_MAX_AGE_MS) return held;
    }
    const usable = held && age >= 0 && age < STALE_KEYS_MAX_AGE_MS;
    const failure = this.#failures.get(issuer)!;
    const standing = usable || this.#refreshing.has(issuer)
      ? undefined
      : failure.standing(now);
    if (standing) throw standing.error;
    try {
      return await failure.track(now, () => this.#refresh(issuer, now));
    } catch (error) {
      // Unreachable: the keys held serve up to a day.
      if (usable) return held;
      throw error;
    }
  }

  #refetchDue(issuer: string, now: Date): boolean {
    const last = this.#lastAttempt.get(issuer) ?? -Infinity;
    return now.getTime() - last >= MIN_REFETCH_INTERVAL_MS;
  }

  /** Concurrent callers share one fetch. */
  #refresh(issuer: string, now: Date): Promise<HeldKeys> {
    let refreshing = this.#refreshing.get(issuer);
    if (!refreshing) {
      this.#lastAttempt.set(issuer, now.getTime());
      refreshing = this.#fetchKeys(issuer, now).finally(() =>
        this.#refreshing.delete(issuer)
      );
      this.#refreshing.set(issuer, refreshing);
    }
    return refreshing;
  }

  async #fetchKeys(issuer: string, now: Date): Promise<HeldKeys> {
    const metadata = await this.#metadata(issuer);
    const jwksUri = metadata.jwks_uri;
    const problem = typeof jwksUri === "string"
      ? platformUrlProblem(jwksUri)
      : "is missing";
    if (problem) {
      this.#unreachable(issuer, `its metadata's jwks_uri ${problem}`);
    }
    // http to this host is for a platform on this host: not one a remote
    // platform's metadata may send us to.
    if (mayBeThisHost(jwksUri as string) && !mayBeThisHost(issuer)) {
      this.#unreachable(issuer, "its metadata's jwks_uri is on this host");
    }
    const jwks = await this.#document(jwksUri as string, issuer);
    if (!Array.isArray(jwks.keys)) {
      this.#unreachable(issuer, "its JWKS has no keys");
    }
    const keys = (jwks.keys as unknown[]).filter((key) =>
      typeof key === "object" && key !== null && !Array.isArray(key)
    ).slice(0, MAX_KEYS) as Record<string, unknown>[];
    const held = { jwks: keys, fetchedAt: now.getTime(), built: new Map() };
    this.#held.set(issuer, held);
    return held;
  }

  /**
   * OpenID discovery, or RFC 8414's well-known URL where that answers 404;
   * its `issuer` must be this one, exactly.
   */
  async #metadata(issuer: string): Promise<Record<string, unknown>> {
    const url = new URL(issuer);
    const path = url.pathname === "/" ? "" : url.pathname;
    const metadata = await this.#document(
      `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`,
      issuer,
      { notFound: true },
    ) ??
      await this.#document(
        `${url.origin}/.well-known/oauth-authorization-server${path}`,
        issuer,
      );
    if (metadata.issuer !== issuer) {
      this.#unreachable(
        issuer,
        `its metadata names another issuer, ${JSON.stringify(metadata.issuer)}`,
      );
    }
    return metadata;
  }

  #unreachable(issuer: string, why: string): never {
    throw new Auth4AgentError(
      this.role.unreachable,
      `cannot get the signing keys of ${issuer}: ${why}`,
    );
  }

  #failed(issuer: string, url: string, cause: unknown): void {
    this.#log({
      level: "warn",
      msg: `cannot get a ${this.role.noun}'s keys`,
      issuer,
      url,
      error: String(cause),
    });
  }

  /** A JSON object at `url`; with `notFound`, undefined when it answers 404. */
  async #document(
    url: string,
    issuer: string,
    options: { notFound: true },
  ): Promise<Record<string, unknown> | undefined>;
  async #document(
    url: string,
    issuer: string,
  ): Promise<Record<string, unknown>>;
  async #document(
    url: string,
    issuer: string,
    options: { notFound?: true } = {},
  ): Promise<Record<string, unknown> | undefined> {
    let response: Response;
    try {
      response = await this.#fetch(url, {
        headers: { Accept: "application/json" },
        redirect: "error",
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
    } catch (cause) {
      this.#failed(issuer, url, cause);
      this.#unreachable(issuer, `${url} could not be fetched`);
    }
    if (response.status === 404 && options.notFound) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) {
      await response.body?.cancel();
      this.#unreachable(issuer, `${url} answered ${response.status}`);
    }
    const declared = Number(response.headers.get("Content-Length") ?? 0);
    if (declared > MAX_DOCUMENT_BYTES) {
      await response.body?.cancel();
      this.#unreachable(
        issuer,
        `${url} is larger than ${MAX_DOCUMENT_BYTES} bytes`,
      );
    }
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readCappedBody(response.body, MAX_DOCUMENT_BYTES);
    } catch (cause) {
      this.#failed(issuer, url, cause);
      this.#unreachable(issuer, `${url} broke off`);
    }
    if (!bytes) {
      this.#unreachable(
        issuer,
        `${url} is larger than ${MAX_DOCUMENT_BYTES} bytes`,
      );
    }
    let value: unknown;
    try {
      value = JSON.parse(fromUtf8(bytes));
    } catch (cause) {
      // The parser quotes the body: that goes to the log, not to the caller.
      this.#failed(issuer, url, cause);
      this.#unreachable(issuer, `${url} is not JSON`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.#unreachable(issuer, `${url} is not a JSON object`);
    }
    return value as Record<string, unknown>;
  }
}

/** The held key the token names, built once; undefined when none fits. */
function pick(
  held: HeldKeys,
  token: KeyReference,
): ForeignKey | undefined {
  const id = `${token.kid ?? ""}\u0000${token.alg}`;
  const built = held.built.get(id);
  if (built) return built;
  const candidates = held.jwks.filter((jwk) =>
    (token.kid === undefined || jwk.kid === token.kid) && fits(jwk, token.alg)
  );
  // Without a kid the key must be the only one of its kind: no guessing.
  if (candidates.length !== 1) return undefined;
  const key = tryKey(candidates[0]!, token.alg);
  if (key) held.built.set(id, key);
  return key;
}

function fits(jwk: Record<string, unknown>, alg: string): boolean {
  if (alg === "RS256") return jwk.kty === "RSA";
  if (alg === "ES256") return jwk.kty === "EC" && jwk.crv === "P-256";
  return jwk.kty === "OKP" && jwk.crv === "Ed25519";
}

function tryKey(
  jwk: Record<string, unknown>,
  alg: ForeignAlg,
): ForeignKey | undefined {
  try {
    return foreignKey(jwk, alg);
  } catch {
    return undefined;
  }
}
