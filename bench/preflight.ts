/**
 * Before any timed run, each server shows it serves the flow as claimed:
 * a token from `client_credentials` + `private_key_jwt` (EdDSA) is a JWT
 * signed with Ed25519 that verifies against the server's published JWKS,
 * and the same client assertion sent twice is refused the second time
 * (replay detection on). It also issues the tokens that flow (c) introspects.
 */
import * as jose from "jose";
import {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
} from "../src/core/client_assertion.ts";
import type { Agent } from "./ours.ts";

export interface Target {
  name: string;
  origin: string;
  issuer: string;
  tokenPath: string;
  introspectPath: string;
  jwksPath: string;
}

export interface Preflight {
  tokenHeader: jose.ProtectedHeaderParameters;
  tokenClaims: string[];
  signatureVerified: boolean;
  replay: { firstStatus: number; secondStatus: number; secondBody: string };
}

async function postForm(
  url: string,
  params: Record<string, string>,
): Promise<{ status: number; body: string }> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      Accept: "application/json",
    },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: await response.text() };
}

async function assertionParams(
  target: Target,
  agent: Agent,
): Promise<Record<string, string>> {
  return {
    client_id: agent.clientId,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: await createClientAssertion({
      clientId: agent.clientId,
      audience: target.issuer,
      privateKey: agent.privateKey,
      now: new Date(),
    }),
  };
}

/** Issues one token (flow b's request) and returns the response body. */
export async function issueToken(
  target: Target,
  agent: Agent,
  request: { scope: string; resource: string },
): Promise<string> {
  const response = await postForm(target.origin + target.tokenPath, {
    grant_type: "client_credentials",
    ...await assertionParams(target, agent),
    scope: request.scope,
    resource: request.resource,
  });
  if (response.status !== 200) {
    throw new Error(
      `${target.name}: token request failed (${response.status}): ${response.body}`,
    );
  }
  return JSON.parse(response.body).access_token;
}

export async function preflight(
  target: Target,
  agent: Agent,
  request: { scope: string; resource: string },
): Promise<Preflight> {
  const token = await issueToken(target, agent, request);
  const jwks = await (await fetch(target.origin + target.jwksPath)).json();
  const { protectedHeader, payload } = await jose.jwtVerify(
    token,
    jose.createLocalJWKSet(jwks),
    { issuer: target.issuer, algorithms: ["EdDSA", "Ed25519"] },
  );
  if (protectedHeader.typ !== "at+jwt") {
    throw new Error(`${target.name}: token typ is ${protectedHeader.typ}`);
  }
  const params = {
    grant_type: "client_credentials",
    ...await assertionParams(target, agent),
    scope: request.scope,
    resource: request.resource,
  };
  const first = await postForm(target.origin + target.tokenPath, params);
  const second = await postForm(target.origin + target.tokenPath, params);
  if (first.status !== 200 || second.status < 400) {
    throw new Error(
      `${target.name}: replay detection is not on (first ${first.status}, second ${second.status})`,
    );
  }
  return {
    tokenHeader: protectedHeader,
    tokenClaims: Object.keys(payload),
    signatureVerified: true,
    replay: {
      firstStatus: first.status,
      secondStatus: second.status,
      secondBody: second.body.slice(0, 200),
    },
  };
}

/** Issues `count` tokens (round robin over agents) for flow (c), and checks one introspects active. */
export async function tokensToIntrospect(
  target: Target,
  agents: Agent[],
  request: { scope: string; resource: string },
  count: number,
): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    tokens.push(
      await issueToken(target, agents[i % agents.length]!, request),
    );
  }
  const check = await postForm(target.origin + target.introspectPath, {
    token: tokens[0]!,
    token_type_hint: "access_token",
    ...await assertionParams(target, agents[0]!),
  });
  if (check.status !== 200 || JSON.parse(check.body).active !== true) {
    throw new Error(
      `${target.name}: a fresh token does not introspect active (${check.status}): ${check.body}`,
    );
  }
  return tokens;
}
