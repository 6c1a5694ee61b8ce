/**
 * The access token of an HTTP request to an API, as its `Authorization`
 * header presents it: `Bearer` (RFC 6750) or `DPoP` (RFC 9449, with the
 * request's `DPoP` proof, checked against its method and URL). Refusals carry
 * the status and `WWW-Authenticate` challenge a resource server answers with
 * (Auth4AgentError.status and .headers): 401, 403 for a missing scope, 503
 * when the issuer's keys cannot be had. For TokenVerifier and TrustedIssuers.
 */
import type { AccessTokenClaims } from "../core/access_token.ts";
import { DPOP_ALGS, DPOP_HEADER, DPOP_SCHEME } from "../core/dpop.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import type { VerifyOptions } from "./verifier.ts";

export type RequestVerifyOptions = Omit<VerifyOptions, "dpop"> & {
  /**
   * This API's origin as its clients call it (`https://api.example.com`): a
   * DPoP proof must name it. Needed for DPoP requests — `request.url` is
   * built from the client's own Host header, so a proof made for another
   * API would pass as made for this one — unless `url` is given.
   */
  origin?: string;
  /** The full URL the client called, where `origin` + the request's path is not it. */
  url?: string;
};

export async function verifyRequestWith(
  verify: (token: string, options: VerifyOptions) => Promise<AccessTokenClaims>,
  request: Request,
  options: RequestVerifyOptions,
): Promise<AccessTokenClaims> {
  const presented = presentedToken(request.headers.get("Authorization"));
  const { url, origin, ...verifyOptions } = options;
  const dpop = presented.scheme === DPOP_SCHEME && {
    proof: request.headers.get(DPOP_HEADER),
    method: request.method,
    url: url ?? calledUrl(request, origin),
  };
  try {
    return await verify(presented.token, {
      ...verifyOptions,
      ...(dpop && { dpop }),
    });
  } catch (error) {
    if (!(error instanceof Auth4AgentError)) throw error;
    throw new Auth4AgentError(error.code, error.message, {
      cause: error,
      headers: {
        ...error.headers,
        "WWW-Authenticate": challenge(presented.scheme, error),
      },
      // A bad proof is 400 at the token endpoint, 401 here (RFC 9449 §7.1).
      status: error.code === "ERR_DPOP_PROOF_INVALID" ? 401 : error.status,
    });
  }
}

/** `origin` with the request's path and query: the URL a DPoP proof must name. */
function calledUrl(request: Request, origin: string | undefined): string {
  if (origin === undefined || !URL.canParse(origin)) {
    fail(
      "ERR_USAGE",
      "verifyRequest needs this API's origin (or url) to check a DPoP proof: request.url comes from the client's Host header",
    );
  }
  // Joined as text: resolved as a URL, a path `//api1.example.com/…` would
  // name another host.
  const { pathname, search } = new URL(request.url);
  return `${new URL(origin).origin}${pathname}${search}`;
}

/**
 * The token of an `Authorization` header: scheme `Bearer` or `DPoP` (case
 * does not matter), one space, a token68 (RFC 9110 §11.4).
 */
function presentedToken(
  authorization: string | null,
): { scheme: "Bearer" | typeof DPOP_SCHEME; token: string } {
  const match = authorization === null
    ? null
    : /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
  if (!match) {
    throw new Auth4AgentError(
      "ERR_TOKEN_INVALID",
      "send the access token as Authorization: Bearer <token>, or DPoP <token> with a DPoP proof",
      { headers: { "WWW-Authenticate": bothChallenges() } },
    );
  }
  const scheme = match[1]!.toLowerCase() === "dpop" ? DPOP_SCHEME : "Bearer";
  return { scheme, token: match[2]! };
}

/** RFC 6750 §3 / RFC 9449 §7.1 challenge for a refused token. */
function challenge(scheme: string, error: Auth4AgentError): string {
  const algs = scheme === DPOP_SCHEME ? `, algs="${DPOP_ALGS.join(" ")}"` : "";
  return `${scheme} error="${error.oauthError}"${algs}`;
}

/** No token at all: both schemes are offered (RFC 9449 §7.1). */
function bothChallenges(): string {
  return `Bearer, DPoP algs="${DPOP_ALGS.join(" ")}"`;
}
