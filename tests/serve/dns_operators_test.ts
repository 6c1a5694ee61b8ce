/**
 * Domains and TXT answers at the operator endpoints: every malformed domain
 * is ERR_INVALID_DOMAIN, and a TXT answer bigger than the issuer compares is
 * refused with a clear error rather than half read.
 */
import assert from "node:assert/strict";
import { generateKeyPair } from "../../src/core/keys.ts";
import { MAX_TXT_RECORDS } from "../../src/core/dns_challenge.ts";
import {
  assertError,
  assertOk,
  type Fixture,
  registerOperator,
  signedRequest,
  withFixture,
} from "./helpers.ts";

const label63 = "a".repeat(63);

async function register(fx: Fixture, domain: unknown) {
  const pair = await generateKeyPair();
  const { response } = await signedRequest(fx, "POST", "/v1/operators", {
    domain,
  }, { privateKey: pair.privateKey, publicJwk: pair.publicJwk });
  return response;
}

Deno.test("dns operators: a malformed domain is ERR_INVALID_DOMAIN, whatever is wrong with it", async () => {
  await withFixture(async (fx) => {
    const longest = [label63, label63, label63, "b".repeat(39)].join(".");
    for (
      const domain of [
        [label63, label63, label63, "b".repeat(61)].join(".") + ".", // 254
        `${longest}b`, // 232
        "a".repeat(1000) + ".com",
        "ex\u0007ample.com",
        "example.com\n",
        "exa\u202emple.com",
        "xn--zz.com",
      ]
    ) {
      const body = await assertError(
        await register(fx, domain),
        400,
        "ERR_INVALID_DOMAIN",
      );
      assert.match(
        body.error_description as string,
        /^[\x20-\x7e]*$/,
        "the description quotes no control or format character",
      );
    }
    const created = await assertOk(await register(fx, `${longest}.`), 201);
    assert.equal(created.domain, longest);
    // Absurd input is still refused before any parsing, as a bad request.
    await assertError(
      await register(fx, "a".repeat(5000)),
      400,
      "ERR_INVALID_REQUEST",
    );
    await assertError(await register(fx, 42), 400, "ERR_INVALID_REQUEST");
  });
});

Deno.test("dns operators: every TXT record is compared; more than the cap is refused, not half read", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx);
    const verify = async () =>
      (await signedRequest(
        fx,
        "POST",
        `/v1/operators/${operator.id}/verify`,
        {},
        operator.signer,
      )).response;
    const noise = (n: number) =>
      Array.from({ length: n }, (_, i) => [`v=other${i}`]);

    const tooMany = noise(MAX_TXT_RECORDS + 8);
    tooMany[35] = [operator.dnsRecord.value];
    fx.dns.set(operator.dnsRecord.name, tooMany);
    const refused = await assertError(
      await verify(),
      422,
      "ERR_DNS_RECORD_MISMATCH",
    );
    assert.match(
      refused.error_description as string,
      /40 TXT records, more than the 32/,
    );

    const atCap = noise(MAX_TXT_RECORDS);
    atCap[MAX_TXT_RECORDS - 1] = [operator.dnsRecord.value];
    fx.dns.set(operator.dnsRecord.name, atCap);
    const verified = await assertOk(await verify());
    assert.equal(verified.verified, true);
  });
});
