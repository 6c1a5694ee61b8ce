/**
 * Distributed revocation across issuers: a token another issuer gave, traded
 * here (workload federation, or federation with another auth4agent issuer),
 * is refused once that issuer's Token Status List says it is not valid
 * (draft-ietf-oauth-status-list §8.3). The list is fetched from the token's
 * `status.status_list.uri`, which must be on its issuer's own origin (a
 * token cannot send this server elsewhere), and verified with that issuer's
 * keys (foreign_issuers.ts). Held for its `ttl`; while the issuer cannot be
 * reached, up to its `exp`; with none usable, the trade is refused (503):
 * a revocation must not be missed because the list was out of reach.
 */
import { readCappedBody } from "../core/capped_body.ts";
import { fromUtf8 } from "../core/encoding.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { HeldStatusLists } from "../core/held_status_lists.ts";
import {
  MAX_STATUS_LIST_JWS_LENGTH,
  parseForeignStatusList,
  parseStatusClaim,
  STATUS_LIST_MEDIA_TYPE,
  statusAt,
  type StatusListToken,
  statusName,
  verifyForeignStatusList,
} from "../core/status_list.ts";
import { type ForeignIssuers, platformUrlProblem } from "./foreign_issuers.ts";

const FETCH_TIMEOUT_MS = 5_000;
/** After a failed fetch the list is not asked for again for 5 s. */
const NO_LIST_RETRY_MS = 5_000;
const MAX_CACHED_LISTS = 64;

export class ForeignStatusLists {
  readonly #issuers: ForeignIssuers;
  readonly #fetch: typeof fetch;
  readonly #log: (line: Record<string, unknown>) => void;
  readonly #held = new HeldStatusLists({
    max: MAX_CACHED_LISTS,
    retryMs: NO_LIST_RETRY_MS,
  });

  constructor(
    issuers: ForeignIssuers,
    options: {
      fetch?: typeof fetch;
      log?: (line: Record<string, unknown>) => void;
    } = {},
  ) {
    this.#issuers = issuers;
    this.#fetch = options.fetch ?? fetch;
    this.#log = options.log ?? (() => {});
  }

  /**
   * Refuses (the issuers' role's `invalid` code) a token of `iss` whose `status`
   * claim its issuer's list marks other than valid (revoked, suspended, or a
   * status of the issuer's own; lists of 1, 2, 4 or 8 bits a token); a
   * token without one is not asked about.
   */
  async requireUnrevoked(
    iss: string,
    status: unknown,
    now: Date,
  ): Promise<void> {
    if (status === undefined) return;
    const { invalid, token } = this.#issuers.role;
    let ref: { idx: number; uri: string };
    try {
      ref = parseStatusClaim(status).status_list;
    } catch (cause) {
      throw new Auth4AgentError(
        invalid,
        `${token} status is malformed: ${(cause as Error).message}`,
      );
    }
    const problem = platformUrlProblem(ref.uri) ??
      (new URL(ref.uri).origin === new URL(iss).origin
        ? undefined
        : `is not on its issuer's origin, ${new URL(iss).origin}`);
    if (problem) {
      fail(
        invalid,
        `${token}'s status list ${ref.uri} ${problem}`,
      );
    }
    const list = await this.#list(iss, ref.uri, now);
    const value = statusAt(list.bits, list.width, ref.idx);
    if (value === undefined) {
      fail(invalid, `${token}'s index is beyond its status list`);
    }
    // Anything but valid: revoked, suspended, or a status of the issuer's own.
    if (value !== 0) {
      fail(
        invalid,
        `${iss}'s status list says the ${token} is ${statusName(value)}`,
      );
    }
  }

  /** The list, held as core/held_status_lists.ts says: per issuer and uri. */
  #list(iss: string, uri: string, now: Date): Promise<StatusListToken> {
    return this.#held.get(`${iss} ${uri}`, now, {
      fetch: () => this.#fetchList(iss, uri, now),
      // Never once its key has left the issuer's JWKS (a withdrawn key).
      usable: (list) => this.#issuers.publishes(iss, list.kid),
      isOutage: (error) =>
        error instanceof Auth4AgentError &&
        error.code === this.#issuers.role.unreachable,
      older: () =>
        this.#unreachable(iss, `${uri} answered an older list than one seen`),
    });
  }

  async #fetchList(
    iss: string,
    uri: string,
    now: Date,
  ): Promise<StatusListToken> {
    const jwt = await this.#download(iss, uri);
    try {
      const parsed = parseForeignStatusList(jwt);
      const key = await this.#issuers.key(
        { iss, kid: parsed.kid, alg: parsed.alg },
        now,
      );
      return verifyForeignStatusList(parsed, { uri, key, now });
    } catch (cause) {
      if (
        cause instanceof Auth4AgentError &&
        cause.code === this.#issuers.role.unreachable
      ) throw cause;
      // Its status cannot be known: refused as if out of reach, the why logged.
      this.#failed(iss, uri, cause);
      throw this.#unreachable(iss, "its status list does not verify");
    }
  }

  async #download(iss: string, uri: string): Promise<string> {
    let response: Response;
    try {
      response = await this.#fetch(uri, {
        headers: { Accept: STATUS_LIST_MEDIA_TYPE },
        redirect: "error",
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
    } catch (cause) {
      this.#failed(iss, uri, cause);
      throw this.#unreachable(iss, `${uri} could not be fetched`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      this.#failed(iss, uri, `HTTP ${response.status}`);
      throw this.#unreachable(iss, `${uri} answered ${response.status}`);
    }
    let bytes: Uint8Array | undefined;
    try {
      bytes = await readCappedBody(response.body, MAX_STATUS_LIST_JWS_LENGTH);
    } catch (cause) {
      this.#failed(iss, uri, cause);
      throw this.#unreachable(iss, `${uri} broke off`);
    }
    if (!bytes) {
      this.#failed(iss, uri, "too large");
      throw this.#unreachable(
        iss,
        `${uri} is larger than ${MAX_STATUS_LIST_JWS_LENGTH} bytes`,
      );
    }
    try {
      return fromUtf8(bytes).trim();
    } catch (cause) {
      this.#failed(iss, uri, cause);
      throw this.#unreachable(iss, `${uri} is not UTF-8`);
    }
  }

  #failed(iss: string, uri: string, cause: unknown): void {
    this.#log({
      level: "warn",
      msg: `cannot get a ${this.#issuers.role.noun}'s status list`,
      issuer: iss,
      url: uri,
      error: String(cause),
    });
  }

  #unreachable(iss: string, why: string): Auth4AgentError {
    const { unreachable, token } = this.#issuers.role;
    return new Auth4AgentError(
      unreachable,
      `cannot check the ${token}'s status at ${iss}: ${why}`,
    );
  }
}
