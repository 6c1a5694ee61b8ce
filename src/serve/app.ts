/**
 * The issuer as one function `(Request) => Promise<Response>`: every route is
 * wired here, errors are rendered here, and Deno.serve stays at the edge
 * (server.ts), so tests call the app directly with `new Request(...)`.
 */
import { Auth4AgentError } from "../core/errors.ts";
import { type AppDeps, PATHS, type RequestInfo } from "./context.ts";
import {
  getAgent,
  getAgentDidDocument,
  getAgentScopes,
  registerAgent,
  rotateAgentKey,
  setAgentScopes,
} from "./endpoints/agents.ts";
import {
  addWorkloadIdentity,
  listWorkloadIdentities,
  removeWorkloadIdentity,
} from "./endpoints/workload_identities.ts";
import { createChallenge } from "./endpoints/challenges.ts";
import {
  didWebEndpoint,
  healthEndpoint,
  jwksEndpoint,
  metadataEndpoint,
} from "./endpoints/discovery.ts";
import { changeAgentStatus, listRevocations } from "./endpoints/lifecycle.ts";
import { introspectEndpoint } from "./endpoints/introspect.ts";
import { nonceEndpoint } from "./endpoints/nonce.ts";
import {
  getDnsRecord,
  getOperator,
  registerOperator,
  verifyDomain,
} from "./endpoints/operators.ts";
import { revokeEndpoint } from "./endpoints/revoke.ts";
import { statusListEndpoint } from "./endpoints/status_lists.ts";
import { tokenEndpoint } from "./endpoints/token.ts";
import { isCoveredByItsWrite } from "./durability.ts";
import { errorResponse } from "./http.ts";
import { ipBucketKey } from "./rate_limit.ts";

type Handler = (
  request: Request,
  deps: AppDeps,
  params: string[],
) => Promise<Response> | Response;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
  /** Counted against the caller's IP bucket (unauthenticated, state-creating or costly). */
  limited?: boolean;
}

const SEGMENT = "([^/]+)";

function route(
  method: string,
  path: string,
  handler: Handler,
  limited = true,
): Route {
  const pattern = new RegExp(
    "^" + path.replaceAll(".", "\\.").replaceAll(":param", SEGMENT) + "$",
  );
  return { method, pattern, handler, limited };
}

const ROUTES: Route[] = [
  route("GET", PATHS.metadata, (_r, deps) => metadataEndpoint(deps), false),
  route("GET", PATHS.jwks, (_r, deps) => jwksEndpoint(deps), false),
  route("GET", PATHS.didWeb, (_r, deps) => didWebEndpoint(deps), false),
  route("GET", PATHS.health, (_r, deps) => healthEndpoint(deps), false),
  route("POST", PATHS.token, tokenEndpoint),
  route("POST", PATHS.introspect, introspectEndpoint),
  route("POST", PATHS.revoke, revokeEndpoint),
  // Costly (a read and a compression): counted against the caller's IP.
  route(
    "GET",
    `${PATHS.statusLists}/:param`,
    (_r, deps, [list]) => statusListEndpoint(list!, deps),
  ),
  route("POST", PATHS.nonce, (_r, deps) => nonceEndpoint(deps)),
  route("POST", PATHS.challenges, createChallenge),
  route("POST", PATHS.operators, registerOperator),
  route(
    "GET",
    `${PATHS.operators}/:param`,
    (_r, deps, [id]) => getOperator(id!, deps),
  ),
  route(
    "GET",
    `${PATHS.operators}/:param/dns-record`,
    (r, deps, [id]) => getDnsRecord(id!, r, deps),
  ),
  route(
    "POST",
    `${PATHS.operators}/:param/verify`,
    (r, deps, [id]) => verifyDomain(id!, r, deps),
  ),
  route("POST", PATHS.agents, registerAgent),
  route(
    "GET",
    `${PATHS.agents}/:param`,
    (_r, deps, [did]) => getAgent(did!, deps),
  ),
  route(
    "GET",
    `${PATHS.agents}/:param/did.json`,
    (_r, deps, [did]) => getAgentDidDocument(did!, deps),
  ),
  route(
    "PUT",
    `${PATHS.agents}/:param/scopes`,
    (r, deps, [did]) => setAgentScopes(did!, r, deps),
  ),
  route(
    "GET",
    `${PATHS.agents}/:param/scopes`,
    (r, deps, [did]) => getAgentScopes(did!, r, deps),
  ),
  route(
    "POST",
    `${PATHS.agents}/:param/workload-identities`,
    (r, deps, [did]) => addWorkloadIdentity(did!, r, deps),
  ),
  route(
    "GET",
    `${PATHS.agents}/:param/workload-identities`,
    (r, deps, [did]) => listWorkloadIdentities(did!, r, deps),
  ),
  route(
    "DELETE",
    `${PATHS.agents}/:param/workload-identities`,
    (r, deps, [did]) => removeWorkloadIdentity(did!, r, deps),
  ),
  route(
    "POST",
    `${PATHS.agents}/:param/key`,
    (r, deps, [did]) => rotateAgentKey(did!, r, deps),
  ),
  ...(["suspend", "reactivate", "revoke"] as const).map((action) =>
    route(
      "POST",
      `${PATHS.agents}/:param/${action}`,
      (r, deps, [did]) => changeAgentStatus(action, did!, r, deps),
    )
  ),
  route(
    "GET",
    `${PATHS.operators}/:param/revocations`,
    (r, deps, [id]) => listRevocations(id!, r, deps),
  ),
];

function decodeParams(match: RegExpExecArray): string[] {
  return match.slice(1).map((value) => {
    try {
      return decodeURIComponent(value);
    } catch {
      throw new Auth4AgentError(
        "ERR_INVALID_REQUEST",
        "malformed percent-encoding in the path",
      );
    }
  });
}

export function createApp(
  deps: AppDeps,
): (request: Request, info?: RequestInfo) => Promise<Response> {
  return async (request, info = { remoteIp: "local" }) => {
    let response: Response;
    try {
      response = await dispatch(request, info, deps);
    } catch (error) {
      response = errorResponse(asAuth4AgentError(error, request, deps));
    }
    try {
      // Nothing leaves before every commit so far is durable: whatever this
      // answer rests on — its own write or rows it read — is on disk.
      if (!isCoveredByItsWrite(response)) await deps.store.durable();
    } catch (error) {
      return errorResponse(asAuth4AgentError(error, request, deps));
    }
    return response;
  };
}

async function dispatch(
  request: Request,
  info: RequestInfo,
  deps: AppDeps,
): Promise<Response> {
  const path = new URL(request.url).pathname;
  // HEAD is GET without the body (RFC 9110 §9.3.2): the GET answer goes back
  // as it is, and Deno.serve sends its headers, Content-Length included
  // (§8.6), but not the body. A bodiless copy would go out as length 0.
  const method = request.method === "HEAD" ? "GET" : request.method;
  const allowed: string[] = [];
  for (const candidate of ROUTES) {
    const match = candidate.pattern.exec(path);
    if (!match) continue;
    if (candidate.method !== method) {
      allowed.push(candidate.method);
      if (candidate.method === "GET") allowed.push("HEAD");
      continue;
    }
    if (candidate.limited) {
      deps.limits.perIp.take(
        `ip:${ipBucketKey(info.remoteIp)}`,
        deps.now().getTime(),
      );
    }
    return await candidate.handler(request, deps, decodeParams(match));
  }
  if (allowed.length > 0) {
    throw new Auth4AgentError(
      "ERR_METHOD_NOT_ALLOWED",
      `${request.method} is not allowed on ${path}`,
      // RFC 9110 §15.5.6: a 405 names the methods the resource supports.
      { headers: { Allow: [...new Set(allowed)].join(", ") } },
    );
  }
  throw new Auth4AgentError("ERR_NOT_FOUND", `no such endpoint: ${path}`);
}

/** Our errors pass as they are; anything else is a bug, logged and answered 500 without details. */
function asAuth4AgentError(
  error: unknown,
  request: Request,
  deps: AppDeps,
): Auth4AgentError {
  if (error instanceof Auth4AgentError) return error;
  deps.log({
    level: "error",
    msg: "unexpected error",
    method: request.method,
    path: new URL(request.url).pathname,
    error: error instanceof Error
      ? (error.stack ?? error.message)
      : String(error),
  });
  return new Auth4AgentError("ERR_INTERNAL", "internal error");
}
