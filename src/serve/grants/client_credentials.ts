/**
 * `grant_type=client_credentials` (RFC 6749 §4.4): the agent asks for a token
 * of its own, within its operator's grant (deny by default) — or, with
 * `may_act`, for a delegation (token_request.ts).
 */
import { fail } from "../../core/errors.ts";
import { authorizeScopes, parseScopeParam } from "../../core/scope.ts";
import type { AgentStanding } from "../../store/store.ts";
import { type AppDeps, endpointUrl, PATHS } from "../context.ts";
import {
  attestersOf,
  requireVerifiedOperator,
  resolveAudience,
  resolveLifetime,
  resolveMayAct,
  type TokenPlan,
} from "./token_request.ts";

export const CLIENT_CREDENTIALS_GRANT = "client_credentials";

export async function clientCredentials(
  client: AgentStanding,
  params: Map<string, string>,
  deps: AppDeps,
): Promise<TokenPlan> {
  const { agent, operator, grant } = client;
  const domain = requireVerifiedOperator(agent, operator);
  const granted = grant?.scopes ?? [];
  if (granted.length === 0) {
    fail("ERR_SCOPE_NOT_GRANTED", `no scopes are granted to ${agent.did}`);
  }
  const scope = params.get("scope");
  // Without a scope parameter the agent gets its whole grant (RFC 6749 §3.3 default).
  const scopes = scope === undefined
    ? granted
    : authorizeScopes(parseScopeParam(scope), granted);
  const mayAct = await resolveMayAct(params, agent, deps);
  return {
    subject: agent.did,
    domain,
    scopes,
    audience: mayAct
      ? endpointUrl(deps, PATHS.token)
      : resolveAudience(params, deps),
    lifetime: resolveLifetime(params, deps),
    mayAct,
    attestedBy: attestersOf(client),
  };
}
