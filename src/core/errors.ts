/**
 * One error type with stable machine codes, and one table mapping each code to
 * its OAuth `error`, HTTP status and CLI exit code. Tests assert on `code`,
 * never on the message.
 */

/** CLI exit codes (documented in README.md). */
export const EXIT = {
  ok: 0,
  /** A check failed or the issuer refused the operation. */
  failed: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** The home folder lacks what the command needs (run `init` / `register`). */
  missingState: 3,
  /** The issuer could not be reached or answered something unreadable. */
  unavailable: 4,
  /** A bug: unexpected internal error. */
  internal: 70,
} as const;

export type ExitCode = typeof EXIT[keyof typeof EXIT];

interface CodeInfo {
  /** OAuth 2 / RFC 6749 §5.2 style `error` value. */
  oauth: string;
  status: number;
  exit: ExitCode;
  /**
   * Raised on the client side only (CLI, library, `serve` start-up): never in
   * an issuer's answer, so an answer that carries it is not to be believed.
   */
  client?: true;
}

const CODES = {
  // Malformed input from outside.
  ERR_INVALID_REQUEST: {
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.usage,
  },
  ERR_BODY_TOO_LARGE: {
    oauth: "invalid_request",
    status: 413,
    exit: EXIT.failed,
  },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    oauth: "invalid_request",
    status: 415,
    exit: EXIT.failed,
  },
  ERR_REQUEST_TIMEOUT: {
    oauth: "invalid_request",
    status: 408,
    exit: EXIT.failed,
  },
  ERR_NOT_FOUND: { oauth: "not_found", status: 404, exit: EXIT.failed },
  ERR_METHOD_NOT_ALLOWED: {
    oauth: "invalid_request",
    status: 405,
    exit: EXIT.failed,
  },
  ERR_INVALID_DID: { oauth: "invalid_request", status: 400, exit: EXIT.usage },
  ERR_INVALID_DOMAIN: {
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.usage,
  },
  ERR_INVALID_SCOPE_SYNTAX: {
    oauth: "invalid_scope",
    status: 400,
    exit: EXIT.usage,
  },
  ERR_INVALID_KEY: { oauth: "invalid_request", status: 400, exit: EXIT.failed },
  ERR_UNSUPPORTED_GRANT_TYPE: {
    oauth: "unsupported_grant_type",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_RATE_LIMITED: {
    oauth: "temporarily_unavailable",
    status: 429,
    exit: EXIT.failed,
  },

  // Client authentication (RFC 7523 assertions, signed operator requests).
  ERR_INVALID_CLIENT: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_BAD_SIGNATURE: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_ASSERTION_INVALID: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_ASSERTION_REPLAYED: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_REQUEST_SIGNATURE_INVALID: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_NONCE_INVALID: { oauth: "invalid_nonce", status: 401, exit: EXIT.failed },

  // Challenge–response.
  ERR_CHALLENGE_INVALID: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },

  // Registration and domain ownership.
  ERR_OPERATOR_NOT_FOUND: {
    oauth: "invalid_request",
    status: 404,
    exit: EXIT.failed,
  },
  ERR_OPERATOR_EXISTS: {
    oauth: "invalid_request",
    status: 409,
    exit: EXIT.failed,
  },
  ERR_OPERATOR_NOT_VERIFIED: {
    oauth: "unauthorized_client",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_DOMAIN_TAKEN: {
    oauth: "invalid_request",
    status: 409,
    exit: EXIT.failed,
  },
  ERR_DOMAIN_MISMATCH: {
    oauth: "invalid_request",
    status: 403,
    exit: EXIT.failed,
  },
  ERR_DNS_RECORD_MISSING: {
    oauth: "invalid_request",
    status: 422,
    exit: EXIT.failed,
  },
  ERR_DNS_RECORD_MISMATCH: {
    oauth: "invalid_request",
    status: 422,
    exit: EXIT.failed,
  },
  ERR_DNS_LOOKUP_FAILED: {
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },
  ERR_AGENT_SUSPENDED: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_AGENT_REVOKED: {
    oauth: "invalid_client",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_AGENT_NOT_FOUND: {
    oauth: "invalid_client",
    status: 404,
    exit: EXIT.failed,
  },
  ERR_AGENT_EXISTS: {
    oauth: "invalid_request",
    status: 409,
    exit: EXIT.failed,
  },
  ERR_FORBIDDEN: { oauth: "access_denied", status: 403, exit: EXIT.failed },
  ERR_NOT_TOKEN_HOLDER: {
    oauth: "unauthorized_client",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_NOT_AN_AGENT: {
    oauth: "unauthorized_client",
    status: 400,
    exit: EXIT.failed,
  },

  // Authorization.
  ERR_SCOPE_NOT_GRANTED: {
    oauth: "invalid_scope",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_INVALID_AUDIENCE: {
    oauth: "invalid_target",
    status: 400,
    exit: EXIT.failed,
  },

  // Delegation (RFC 8693 token exchange): an unacceptable subject token is
  // invalid_request, as RFC 8693 §2.2.2 requires.
  ERR_SUBJECT_TOKEN_INVALID: {
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_NOT_DELEGATED: {
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.failed,
  },

  // Workload federation: a platform's token traded for an agent's (RFC 7523
  // §2.1), refused as invalid_grant as §3.1 says.
  ERR_WORKLOAD_TOKEN_INVALID: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_WORKLOAD_ISSUER_UNTRUSTED: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_WORKLOAD_NOT_BOUND: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_WORKLOAD_ISSUER_UNREACHABLE: {
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },
  ERR_WORKLOAD_IDENTITY_EXISTS: {
    oauth: "invalid_request",
    status: 409,
    exit: EXIT.failed,
  },
  ERR_WORKLOAD_IDENTITY_LIMIT: {
    oauth: "invalid_request",
    status: 409,
    exit: EXIT.failed,
  },
  ERR_WORKLOAD_IDENTITY_NOT_FOUND: {
    oauth: "invalid_request",
    status: 404,
    exit: EXIT.failed,
  },

  // Federation: another issuer's access token, for one of the domains this
  // issuer trusts it for, traded for this issuer's (RFC 7523 §2.1).
  ERR_FEDERATED_TOKEN_INVALID: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_FEDERATION_NOT_TRUSTED: {
    oauth: "invalid_grant",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_FEDERATED_ISSUER_UNREACHABLE: {
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },

  // Client attestation (draft-ietf-oauth-attestation-based-client-auth):
  // a trusted attester's statement about the agent's instance, with its
  // proof of possession, in the OAuth-Client-Attestation(-PoP) headers.
  ERR_CLIENT_ATTESTATION_INVALID: {
    oauth: "invalid_client_attestation",
    status: 400,
    exit: EXIT.failed,
  },
  /** The agent's grant asks for an attestation the request did not carry. */
  ERR_CLIENT_ATTESTATION_REQUIRED: {
    oauth: "invalid_client_attestation",
    status: 400,
    exit: EXIT.failed,
  },
  /** Issued longer ago than the issuer accepts: ask the attester for a new one. */
  ERR_CLIENT_ATTESTATION_STALE: {
    oauth: "use_fresh_attestation",
    status: 400,
    exit: EXIT.failed,
  },
  /** The PoP's challenge is not one handed out, or was used: retry with the one in the answer. */
  ERR_ATTESTATION_CHALLENGE_INVALID: {
    oauth: "use_attestation_challenge",
    status: 400,
    exit: EXIT.failed,
  },
  /** The issuer took the request but not its attestation: it trusts no attester. */
  ERR_ATTESTATION_IGNORED: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_CLIENT_ATTESTER_UNREACHABLE: {
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },

  // Sender-constrained tokens (DPoP, RFC 9449): a bad proof is
  // invalid_dpop_proof, at the token endpoint (400) as at a resource server
  // (which answers 401 with it in WWW-Authenticate).
  ERR_DPOP_PROOF_INVALID: {
    oauth: "invalid_dpop_proof",
    status: 400,
    exit: EXIT.failed,
  },
  /** A verifier holds as many unexpired proof ids as it may: it refuses, not forgets. */
  ERR_DPOP_REPLAY_CACHE_FULL: {
    client: true,
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },

  // Token verification (CLI and library).
  ERR_TOKEN_INVALID: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_STATUS_LIST_INVALID: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_TOKEN_EXPIRED: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_TOKEN_INACTIVE: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_TOKEN_AUDIENCE: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },
  ERR_TOKEN_SCOPE: {
    client: true,
    oauth: "insufficient_scope",
    status: 403,
    exit: EXIT.failed,
  },
  /** The token was not issued on a client attestation by an attester the verifier asks for. */
  ERR_TOKEN_NOT_ATTESTED: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },

  /** The token is a federation peer's agent's, which the verifier does not take. */
  ERR_TOKEN_FEDERATED: {
    client: true,
    oauth: "invalid_token",
    status: 401,
    exit: EXIT.failed,
  },

  // Local state (CLI).
  ERR_HOME_MISSING: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.missingState,
  },
  ERR_HOME_INVALID: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.missingState,
  },
  ERR_HOME_EXISTS: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_KEY_PERMISSIONS: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.failed,
  },
  ERR_USAGE: {
    client: true,
    oauth: "invalid_request",
    status: 400,
    exit: EXIT.usage,
  },

  // Talking to the issuer (CLI).
  ERR_ISSUER_UNREACHABLE: {
    client: true,
    oauth: "temporarily_unavailable",
    status: 503,
    exit: EXIT.unavailable,
  },
  ERR_ISSUER_RESPONSE: {
    client: true,
    oauth: "server_error",
    status: 502,
    exit: EXIT.unavailable,
  },

  ERR_AUDIT_BROKEN: {
    client: true,
    oauth: "server_error",
    status: 500,
    exit: EXIT.failed,
  },
  ERR_CONFIG: {
    client: true,
    oauth: "server_error",
    status: 500,
    exit: EXIT.usage,
  },
  ERR_INTERNAL: { oauth: "server_error", status: 500, exit: EXIT.internal },
} as const satisfies Record<string, CodeInfo>;

export type ErrorCode = keyof typeof CODES;

export class Auth4AgentError extends Error {
  override readonly name = "Auth4AgentError";
  readonly code: ErrorCode;
  /** Extra response headers (e.g. `Retry-After`, `WWW-Authenticate`). */
  readonly headers: Record<string, string>;
  readonly #status?: number;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      headers?: Record<string, string>;
      /** Where the code's usual status does not fit (a resource server's 401). */
      status?: number;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.headers = options.headers ?? {};
    this.#status = options.status;
  }

  get oauthError(): string {
    return CODES[this.code].oauth;
  }

  get status(): number {
    return this.#status ?? CODES[this.code].status;
  }

  get exitCode(): ExitCode {
    return CODES[this.code].exit;
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(CODES, value);
}

/** Whether issuers answer with this code (docs/api.md: all but the _client_ ones). */
export function sentByIssuers(code: ErrorCode): boolean {
  return !("client" in CODES[code]);
}

export function errorInfo(code: ErrorCode): CodeInfo {
  return CODES[code];
}

/** Shorthand used at validation boundaries. */
export function fail(code: ErrorCode, message: string): never {
  throw new Auth4AgentError(code, message);
}
