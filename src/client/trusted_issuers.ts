/**
 * Multi-issuer trust: a resource server that takes tokens from several
 * auth4agent issuers — its own organization's and its partners' — each
 * checked against that issuer's own keys. The token's `iss`, read before any
 * check, only picks which issuer's TokenVerifier runs; that verifier then
 * requires `iss` to be exactly its issuer and the signature to be by one of
 * its keys, so a token cannot choose the keys it is checked with. An issuer
 * not configured is refused before any request is made.
 */
import type { AccessTokenClaims } from "../core/access_token.ts";
import { fail } from "../core/errors.ts";
import { inspectJws } from "../core/jws.ts";
import { IssuerClient } from "./issuer_client.ts";
import {
  type RequestVerifyOptions,
  verifyRequestWith,
} from "./request_token.ts";
import {
  type JwksCache,
  TokenVerifier,
  type VerifyOptions,
} from "./verifier.ts";

export class TrustedIssuers {
  readonly #verifiers = new Map<string, TokenVerifier>();

  /** One verifier per issuer; two for one issuer is a configuration error. */
  constructor(verifiers: Iterable<TokenVerifier>) {
    for (const verifier of verifiers) {
      if (this.#verifiers.has(verifier.issuer)) {
        fail("ERR_USAGE", `issuer ${verifier.issuer} is configured twice`);
      }
      this.#verifiers.set(verifier.issuer, verifier);
    }
    if (this.#verifiers.size === 0) {
      fail("ERR_USAGE", "trust at least one issuer");
    }
  }

  /** Trusts these issuer URLs (each exactly its metadata's `issuer`, RFC 8414 §3.3). */
  static of(
    issuers: readonly string[],
    options: {
      fetch?: typeof fetch;
      cache?: (issuer: string) => JwksCache | undefined;
    } = {},
  ): TrustedIssuers {
    return new TrustedIssuers(issuers.map((issuer) => {
      const client = new IssuerClient(issuer, { fetch: options.fetch });
      return new TokenVerifier(client, options.cache?.(client.server));
    }));
  }

  /** The issuers trusted, as their identifiers. */
  get issuers(): string[] {
    return [...this.#verifiers.keys()];
  }

  /**
   * Verifies a token of any trusted issuer, with TokenVerifier.verify's
   * checks and options (`audience` required); the claims' `iss` says which.
   */
  async verify(
    token: string,
    options: VerifyOptions,
  ): Promise<AccessTokenClaims> {
    const { iss } = inspectJws(token, "ERR_TOKEN_INVALID").payload;
    const verifier = typeof iss === "string"
      ? this.#verifiers.get(iss)
      : undefined;
    if (!verifier) {
      fail(
        "ERR_TOKEN_INVALID",
        `token issuer ${JSON.stringify(iss)} is not one this service trusts`,
      );
    }
    return await verifier.verify(token, options);
  }

  /** TokenVerifier.verifyRequest, for tokens of any trusted issuer. */
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
}
