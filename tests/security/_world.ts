/**
 * The in-process issuer the security tests attack (the fixture of
 * tests/serve/helpers.ts: a fixed clock, a verified operator, an agent with a
 * grant and two real tokens), and the two checks every forgery goes through:
 * (a) both library verifiers — `verifyAccessToken` with the issuer's key ring
 * and `TokenVerifier` over the issuer's JWKS — and (b) introspection.
 */
import assert from "node:assert/strict";
import { TokenVerifier } from "../../src/client/verifier.ts";
import {
  type AccessTokenClaims,
  verifyAccessToken,
} from "../../src/core/access_token.ts";
import {
  asCaller,
  assertOk,
  type Fixture,
  introspect,
  ISSUER,
  issueToken,
  setup,
  type TestAgent,
  type TestOperator,
} from "../serve/helpers.ts";
import { code, type Control, type Forgery, type Target } from "./_forge.ts";

/** The audience the real tokens are issued for. */
export const AUDIENCE = "https://api.example.com";

export interface World {
  fx: Fixture;
  operator: TestOperator;
  agent: TestAgent;
  target: Target;
  /** Who asks the introspection endpoint (the agent itself). */
  caller: { id: string; privateKey: CryptoKey };
  /** One long-lived verifier, as a resource server keeps it. */
  verifier: TokenVerifier;
}

/** A verified operator, an agent with a grant, and two real tokens of it. */
export async function world(fx: Fixture): Promise<World> {
  const { operator, agent } = await setup(fx);
  const tokens = [
    await issueToken(fx, agent, { scope: "read:data", audience: AUDIENCE }),
    await issueToken(fx, agent, { scope: "write:data", audience: AUDIENCE }),
  ] as const;
  const { kid, privateKey, publicJwk } = fx.keys.signingKey(fx.clock.now());
  return {
    fx,
    operator,
    agent,
    target: {
      issuer: ISSUER,
      key: { kid, privateKey, publicJwk },
      tokens,
      audience: AUDIENCE,
      agent: {
        did: agent.did,
        privateKey: agent.pair.privateKey,
        publicJwk: agent.pair.publicJwk,
      },
      now: fx.clock.now(),
      margin: 0,
    },
    caller: asCaller(agent),
    verifier: new TokenVerifier(fx.client),
  };
}

/** The core verifier with the issuer's key ring at the fixture's time. */
export function libraryVerify(
  w: World,
  token: string,
  audience?: string,
): Promise<AccessTokenClaims> {
  return verifyAccessToken(token, {
    issuer: ISSUER,
    key: (kid) => w.fx.keys.publicKey(kid, w.fx.clock.now()),
    now: w.fx.clock.now(),
    audience,
  });
}

/** Introspects `token` as the agent and returns the JSON answer. */
export async function introspection(
  w: World,
  token: string,
): Promise<Record<string, unknown>> {
  return await assertOk(await introspect(w.fx, token, w.caller));
}

/** (a) both library verifiers throw the forgery's code; (b) introspection says inactive. */
export async function assertRefused(w: World, forgery: Forgery): Promise<void> {
  await assert.rejects(
    libraryVerify(w, forgery.token, forgery.audience),
    code(forgery.code),
    "verifyAccessToken",
  );
  await assert.rejects(
    w.verifier.verify(forgery.token, {
      audience: forgery.audience ?? null,
      now: w.fx.clock.now(),
    }),
    code(forgery.code),
    "TokenVerifier",
  );
  const result = await introspection(w, forgery.token);
  if (forgery.audience !== undefined && result.active === true) {
    // RFC 7662 takes no audience: introspection reports `aud` and the
    // resource server compares it, so the answer must not name the audience
    // the resource server expects.
    assert.notEqual(result.aud, forgery.audience, JSON.stringify(result));
  } else {
    assert.deepEqual(result, { active: false });
  }
}

/**
 * (a) both library verifiers accept; (b) introspection says active — or,
 * for a token past its `exp` inside the leeway, `{active: false}`.
 */
export async function assertAccepted(
  w: World,
  control: Control,
): Promise<void> {
  const claims = await libraryVerify(w, control.token, control.audience);
  assert.equal(claims.sub, w.agent.did);
  await w.verifier.verify(control.token, {
    audience: control.audience ?? null,
    now: w.fx.clock.now(),
  });
  const result = await introspection(w, control.token);
  if (control.expiredForIssuer) assert.deepEqual(result, { active: false });
  else assert.equal(result.active, true, JSON.stringify(result));
}
