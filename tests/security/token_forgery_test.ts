/**
 * The forged-token catalogue (_forge.ts) against the verifiers that run
 * in-process: (a) `verifyAccessToken` and `TokenVerifier` must throw the
 * expected code, and (b) introspection must answer `{"active": false}`.
 * Every forgery that carries claims carries the `jti` of a token the issuer
 * really issued, so introspection would find it in the store if a check were
 * skipped. The controls show that the same set-up accepts real tokens and
 * tokens the test signs with the issuer key.
 */
import assert from "node:assert/strict";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { nowSeconds } from "../../src/core/jws.ts";
import { rotateSigningKey } from "../../src/serve/signing_keys.ts";
import {
  assertNoInternalErrors,
  issueToken,
  withFixture,
} from "../serve/helpers.ts";
import {
  CATALOGUE,
  code,
  controls,
  decode,
  signCompact,
  split,
} from "./_forge.ts";
import {
  assertAccepted,
  assertRefused,
  AUDIENCE,
  introspection,
  libraryVerify,
  world,
} from "./_world.ts";

for (const [category, build] of Object.entries(CATALOGUE)) {
  Deno.test(`forged access tokens (library, introspection): ${category}`, async (t) => {
    await withFixture(async (fx) => {
      const w = await world(fx);
      for (const forgery of await build(w.target)) {
        await t.step(forgery.name, () => assertRefused(w, forgery));
      }
      assertNoInternalErrors(fx);
    });
  });
}

Deno.test("forged access tokens (library, introspection): controls are accepted", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    for (const control of await controls(w.target)) {
      await t.step(control.name, () => assertAccepted(w, control));
    }
    assertNoInternalErrors(fx);
  });
});

Deno.test("forged access tokens (library, introspection): parts spliced across a key rotation", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const [hOld, pOld, sOld] = split(w.target.tokens[0]);
    await rotateSigningKey(fx.store, fx.clock.now());
    await fx.keys.reload(fx.clock.now());
    assert.notEqual(fx.keys.signingKey(fx.clock.now()).kid, w.target.key.kid);
    const fresh = await issueToken(fx, w.agent, { audience: AUDIENCE });
    const [hNew, pNew, sNew] = split(fresh);
    assert.notEqual(hNew, hOld);
    await t.step(
      "both real tokens stay valid (the retired key is still published)",
      async () => {
        await assertAccepted(w, { name: "old", token: w.target.tokens[0] });
        await assertAccepted(w, { name: "new", token: fresh });
      },
    );
    for (
      const [name, token] of [
        [
          "the retired key's header over a signature by the current key",
          `${hOld}.${pNew}.${sNew}`,
        ],
        [
          "the current key's header over a signature by the retired key",
          `${hNew}.${pOld}.${sOld}`,
        ],
        [
          "the current key's token with the retired key's signature",
          `${hNew}.${pNew}.${sOld}`,
        ],
      ] as const
    ) {
      await t.step(
        name,
        () => assertRefused(w, { name, token, code: "ERR_TOKEN_INVALID" }),
      );
    }
    assertNoInternalErrors(fx);
  });
});

Deno.test("forged access tokens (library, introspection): a retired key, once unpublished, signs nothing", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const retired = w.target.key;
    // A resource server's long-lived verifier, which has seen the old key.
    await w.verifier.verify(w.target.tokens[0], {
      audience: null,
      now: fx.clock.now(),
    });
    await rotateSigningKey(fx.store, fx.clock.now());
    await fx.keys.reload(fx.clock.now());
    // The retired key stays published while its tokens may live (token TTL +
    // leeway + two reload periods, about 16 minutes), then goes; a day later
    // no cache of any age should hold it.
    fx.clock.advance(86_400);
    assert.ok(
      !fx.keys.jwks(fx.clock.now()).keys.some((key) => key.kid === retired.kid),
      "the retired key left the JWKS",
    );
    // Whoever holds the retired private key signs fresh claims with it.
    const now = nowSeconds(fx.clock.now());
    const [header, payload] = split(w.target.tokens[0]);
    const forgery = {
      name: "fresh claims signed with the retired key",
      token: await signCompact(
        decode(header),
        { ...decode(payload), iat: now, exp: now + 600 },
        retired.privateKey,
      ),
      code: "ERR_TOKEN_INVALID" as const,
    };
    await t.step("verifyAccessToken and introspection refuse it", async () => {
      await assert.rejects(
        libraryVerify(w, forgery.token),
        code(forgery.code),
      );
      assert.deepEqual(await introspection(w, forgery.token), {
        active: false,
      });
    });
    await t.step(
      "a TokenVerifier started after the retirement refuses it",
      async () => {
        await assert.rejects(
          new TokenVerifier(fx.client).verify(forgery.token, {
            audience: null,
            now: fx.clock.now(),
          }),
          code(forgery.code),
        );
      },
    );
    await t.step(
      "a TokenVerifier that loaded the JWKS before the rotation refuses it",
      async () => {
        await assertRefused(w, forgery);
      },
    );
    assertNoInternalErrors(fx);
  });
});
