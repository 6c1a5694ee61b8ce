/**
 * The documented 30 s clock leeway (README: "clock leeway 30 s"), on both
 * sides of each boundary, for the library verifiers and introspection with
 * a fixed clock: `exp` (a token is expired once now − 30 s ≥ exp), `nbf` and
 * `iat` (refused once they are more than 30 s ahead). Introspection judges
 * the issuer's own tokens by its own clock: inactive from `exp` on, no
 * leeway. The tokens are signed with the issuer key and carry a real `jti`,
 * so time is the only fault.
 */
import assert from "node:assert/strict";
import { CLOCK_LEEWAY_SECONDS, nowSeconds } from "../../src/core/jws.ts";
import { assertNoInternalErrors, withFixture } from "../serve/helpers.ts";
import { decode, signCompact, split } from "./_forge.ts";
import {
  assertAccepted,
  assertRefused,
  libraryVerify,
  type World,
  world,
} from "./_world.ts";

/** The first real token's claims with `changes`, signed with the issuer key. */
function resigned(w: World, changes: Record<string, unknown>): Promise<string> {
  const [header, payload] = split(w.target.tokens[0]);
  return signCompact(
    decode(header),
    { ...decode(payload), ...changes },
    w.target.key.privateKey,
  );
}

Deno.test("clock leeway is 30 s, as documented", () => {
  assert.equal(CLOCK_LEEWAY_SECONDS, 30);
});

Deno.test("clock leeway: exp, nbf and iat on both sides of the boundary", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const now = nowSeconds(fx.clock.now());
    const cases = [
      ["exp 29 s ago is accepted offline", { exp: now - 29 }, "leeway"],
      ["exp 30 s ago is expired", { exp: now - 30 }, "ERR_TOKEN_EXPIRED"],
      ["exp 31 s ago is expired", { exp: now - 31 }, "ERR_TOKEN_EXPIRED"],
      ["nbf 30 s ahead is accepted", { nbf: now + 30 }, undefined],
      [
        "nbf 31 s ahead is not yet valid",
        { nbf: now + 31 },
        "ERR_TOKEN_INVALID",
      ],
      ["iat 30 s ahead is accepted", { iat: now + 30 }, undefined],
      ["iat 31 s ahead is refused", { iat: now + 31 }, "ERR_TOKEN_INVALID"],
    ] as const;
    for (const [name, changes, code] of cases) {
      await t.step(name, async () => {
        const token = await resigned(w, changes);
        if (code === undefined) await assertAccepted(w, { name, token });
        else if (code === "leeway") {
          await assertAccepted(w, { name, token, expiredForIssuer: true });
        } else await assertRefused(w, { name, token, code });
      });
    }
    assertNoInternalErrors(fx);
  });
});

Deno.test("clock leeway: a real token as the verifier's clock moves past exp or before iat", async (t) => {
  await withFixture(async (fx) => {
    const w = await world(fx);
    const token = w.target.tokens[0];
    const { iat, exp } = await libraryVerify(w, token);
    const at = (seconds: number) => fx.clock.set(new Date(seconds * 1000));
    const steps = [
      ["1 s before exp: accepted, active", exp - 1, undefined],
      ["exp itself: accepted offline", exp, "leeway"],
      ["29 s after exp: accepted offline", exp + 29, "leeway"],
      ["30 s after exp: expired", exp + 30, "ERR_TOKEN_EXPIRED"],
      ["an hour after exp: expired", exp + 3600, "ERR_TOKEN_EXPIRED"],
      ["a clock 30 s behind iat: accepted", iat - 30, undefined],
      ["a clock 31 s behind iat: refused", iat - 31, "ERR_TOKEN_INVALID"],
    ] as const;
    for (const [name, when, code] of steps) {
      await t.step(name, async () => {
        at(when);
        if (code === undefined) await assertAccepted(w, { name, token });
        else if (code === "leeway") {
          await assertAccepted(w, { name, token, expiredForIssuer: true });
        } else await assertRefused(w, { name, token, code });
      });
    }
    assertNoInternalErrors(fx);
  });
});
