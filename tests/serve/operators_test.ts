/**
 * Operators through the real handler: registration, DNS domain verification
 * (fake resolver), and the signed-request rules (single-use nonce, proof bound
 * to method, path and body, operators acting only on themselves).
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { utf8 } from "../../src/core/encoding.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  assertError,
  assertNoInternalErrors,
  assertOk,
  createAgent,
  createVerifiedOperator,
  freshNonce,
  publishDnsRecord,
  registerOperator,
  signedRequest,
  verifyOperator,
  withFixture,
} from "./helpers.ts";

const OPERATOR_ID = /^op_[0-9a-f]{32}$/;

Deno.test("operators: registration answers 201 with an op_ id and the DNS record", async () => {
  await withFixture(async (fx) => {
    const pair = await generateKeyPair();
    const { response } = await signedRequest(
      fx,
      "POST",
      "/v1/operators",
      { domain: "Example.COM." },
      { privateKey: pair.privateKey, publicJwk: pair.publicJwk },
    );
    const created = await assertOk(response, 201);
    assert.match(created.operator_id as string, OPERATOR_ID);
    assert.equal(created.domain, "example.com", "the domain is normalized");
    assert.equal(created.verified, false);
    assert.equal(created.verified_at, null);
    const record = created.dns_record as Record<string, string>;
    assert.equal(record.name, "_auth4agent-challenge.example.com");
    assert.equal(record.type, "TXT");
    assert.match(record.value!, /^token=[A-Za-z0-9_-]{43}$/);

    const stored = await fx.store.getOperator(created.operator_id as string);
    assert.equal(stored?.domain, "example.com");
    assert.equal(stored?.publicJwk.x, pair.publicJwk.x);
    assert.equal(stored?.verifiedAt, undefined);

    const status = await assertOk(
      await fx.app(
        new Request(`http://issuer.test/v1/operators/${created.operator_id}`),
      ),
    );
    assert.equal(status.operator_id, created.operator_id);
    assert.equal(status.verified, false);
    assertNoInternalErrors(fx);
  });
});

Deno.test("operators: the same key registered twice is 409 ERR_OPERATOR_EXISTS", async () => {
  await withFixture(async (fx) => {
    const first = await registerOperator(fx, "example.com");
    const signer = {
      privateKey: first.pair.privateKey,
      publicJwk: first.pair.publicJwk,
    };
    for (const domain of ["example.com", "other.example"]) {
      const { response } = await signedRequest(
        fx,
        "POST",
        "/v1/operators",
        { domain },
        signer,
      );
      await assertError(response, 409, "ERR_OPERATOR_EXISTS");
    }
    // The first registration is untouched.
    assert.equal((await fx.store.getOperator(first.id))?.domain, "example.com");
  });
});

Deno.test("operators: registration refuses a bad domain and an unsigned request", async () => {
  await withFixture(async (fx) => {
    const pair = await generateKeyPair();
    const signer = { privateKey: pair.privateKey, publicJwk: pair.publicJwk };
    for (const domain of ["localhost", "127.0.0.1", "exa mple.com", ""]) {
      const { response } = await signedRequest(
        fx,
        "POST",
        "/v1/operators",
        { domain },
        signer,
      );
      await assertError(
        response,
        400,
        domain === "" ? "ERR_INVALID_REQUEST" : "ERR_INVALID_DOMAIN",
      );
    }
    const unsigned = await fx.app(
      new Request("http://issuer.test/v1/operators", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ domain: "example.com" }),
      }),
    );
    // RFC 9110 §11.6.1: the 401 names the scheme to authenticate with.
    assert.equal(
      unsigned.headers.get("WWW-Authenticate"),
      'Auth4Agent-Signature realm="auth4agent", error="invalid_client"',
    );
    await assertError(unsigned, 401, "ERR_REQUEST_SIGNATURE_INVALID");
  });
});

Deno.test("operators: DNS verification", async (t) => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    const verify = async () =>
      (await signedRequest(
        fx,
        "POST",
        `/v1/operators/${operator.id}/verify`,
        {},
        operator.signer,
      )).response;

    await t.step("no record: 422 ERR_DNS_RECORD_MISSING", async () => {
      await assertError(await verify(), 422, "ERR_DNS_RECORD_MISSING");
      assert.deepEqual(fx.dnsQueries, ["_auth4agent-challenge.example.com"]);
      assert.equal(
        (await fx.store.getOperator(operator.id))?.verifiedAt,
        undefined,
      );
    });

    await t.step("wrong value: 422 ERR_DNS_RECORD_MISMATCH", async () => {
      fx.dns.set("_auth4agent-challenge.example.com", [
        ["token=wrong"],
        [operator.dnsRecord.value + "x"],
        [operator.dnsRecord.value.slice(0, -1)],
      ]);
      await assertError(await verify(), 422, "ERR_DNS_RECORD_MISMATCH");
      assert.equal(
        (await fx.store.getOperator(operator.id))?.verifiedAt,
        undefined,
      );
    });

    await t.step(
      "record split into several strings is joined: verified",
      async () => {
        const value = operator.dnsRecord.value;
        fx.dns.set("_auth4agent-challenge.example.com", [
          ["v=spf1 -all"],
          [value.slice(0, 7), value.slice(7, 20), value.slice(20)],
        ]);
        const verified = await assertOk(await verify());
        assert.equal(verified.verified, true);
        assert.equal(verified.verified_at, fx.clock.now().toISOString());
        const stored = await fx.store.getOperator(operator.id);
        assert.equal(stored?.verifiedAt?.getTime(), fx.clock.now().getTime());
      },
    );

    await t.step(
      "verifying again keeps the first verification time",
      async () => {
        const first = fx.clock.now().toISOString();
        fx.clock.advance(60);
        const again = await assertOk(await verify());
        assert.equal(again.verified_at, first);
      },
    );
    assertNoInternalErrors(fx);
  });
});

Deno.test("operators: a second operator of a verified domain gets 409 ERR_DOMAIN_TAKEN", async () => {
  await withFixture(async (fx) => {
    const first = await registerOperator(fx, "example.com");
    await verifyOperator(fx, first);
    // A second key registers the same domain and even publishes its record.
    const second = await registerOperator(fx, "example.com");
    assert.notEqual(second.id, first.id);
    publishDnsRecord(fx, second);
    const { response } = await signedRequest(
      fx,
      "POST",
      `/v1/operators/${second.id}/verify`,
      {},
      second.signer,
    );
    await assertError(response, 409, "ERR_DOMAIN_TAKEN");
    assert.equal(
      (await fx.store.getOperator(second.id))?.verifiedAt,
      undefined,
    );
    assert.ok((await fx.store.getOperator(first.id))?.verifiedAt);
  });
});

Deno.test("operators: a verification refused as ERR_DOMAIN_TAKEN is audited as denied", async () => {
  await withFixture(async (fx) => {
    const first = await registerOperator(fx, "example.com");
    await verifyOperator(fx, first);
    const second = await registerOperator(fx, "example.com");
    publishDnsRecord(fx, second);
    const audited = await fx.store.listAudit({ limit: 100_000 });
    const before = audited.at(-1)?.seq ?? 0;
    const { response } = await signedRequest(
      fx,
      "POST",
      `/v1/operators/${second.id}/verify`,
      {},
      second.signer,
    );
    await assertError(response, 409, "ERR_DOMAIN_TAKEN");
    const since = await fx.store.listAudit({ afterSeq: before, limit: 100 });
    assert.deepEqual(
      since.map(({ actor, action, target, outcome, reason }) => ({
        actor,
        action,
        target,
        outcome,
        reason,
      })),
      [{
        actor: second.id,
        action: "operator.verify",
        target: "example.com",
        outcome: "denied",
        reason: "ERR_DOMAIN_TAKEN",
      }],
    );
    assertNoInternalErrors(fx);
  });
});

Deno.test("signed requests: a replayed nonce is 401 ERR_NONCE_INVALID with a fresh Auth4Agent-Nonce", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    const path = `/v1/operators/${operator.id}/dns-record`;
    const first = await signedRequest(
      fx,
      "GET",
      path,
      undefined,
      operator.signer,
    );
    const record = await assertOk(first.response);
    assert.deepEqual(record.dns_record, operator.dnsRecord);

    // The very same signed request again.
    const replay = await signedRequest(
      fx,
      "GET",
      path,
      undefined,
      operator.signer,
      {
        proof: first.proof,
      },
    );
    const fresh = replay.response.headers.get("Auth4Agent-Nonce");
    assert.equal(
      replay.response.headers.get("WWW-Authenticate"),
      'Auth4Agent-Signature realm="auth4agent", error="invalid_nonce"',
    );
    await assertError(
      replay.response,
      401,
      "ERR_NONCE_INVALID",
      "invalid_nonce",
    );
    assert.ok(fresh && fresh.length >= 32, "a fresh nonce comes back");

    // A new proof over the same nonce is refused too; the fresh one works once.
    const usedNonce = await signedRequest(
      fx,
      "GET",
      path,
      undefined,
      operator.signer,
      {
        nonce: jose.decodeJwt(first.proof).nonce as string,
      },
    );
    await assertError(usedNonce.response, 401, "ERR_NONCE_INVALID");
    const retried = await signedRequest(
      fx,
      "GET",
      path,
      undefined,
      operator.signer,
      {
        nonce: fresh,
      },
    );
    await assertOk(retried.response);

    const unknown = await signedRequest(
      fx,
      "GET",
      path,
      undefined,
      operator.signer,
      {
        nonce: "never-issued",
      },
    );
    await assertError(unknown.response, 401, "ERR_NONCE_INVALID");
  });
});

Deno.test("signed requests: an expired nonce is 401 ERR_NONCE_INVALID", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    const nonce = await freshNonce(fx);
    fx.clock.advance(301);
    const { response } = await signedRequest(
      fx,
      "GET",
      `/v1/operators/${operator.id}/dns-record`,
      undefined,
      operator.signer,
      { nonce },
    );
    await assertError(response, 401, "ERR_NONCE_INVALID");
  });
});

Deno.test("signed requests: a proof for another path or body is 401 ERR_REQUEST_SIGNATURE_INVALID", async () => {
  await withFixture(async (fx) => {
    const operator = await registerOperator(fx, "example.com");
    publishDnsRecord(fx, operator);
    const verifyPath = `/v1/operators/${operator.id}/verify`;

    const otherPath = await signedRequest(
      fx,
      "POST",
      verifyPath,
      {},
      operator.signer,
      {
        proofPath: `/v1/operators/${operator.id}/dns-record`,
      },
    );
    await assertError(
      otherPath.response,
      401,
      "ERR_REQUEST_SIGNATURE_INVALID",
      "invalid_client",
    );

    const otherBody = await signedRequest(
      fx,
      "POST",
      verifyPath,
      {},
      operator.signer,
      {
        proofBody: utf8(JSON.stringify({ other: true })),
      },
    );
    await assertError(otherBody.response, 401, "ERR_REQUEST_SIGNATURE_INVALID");

    const otherMethod = await signedRequest(
      fx,
      "GET",
      `/v1/operators/${operator.id}/dns-record`,
      undefined,
      operator.signer,
      { proofPath: `/v1/operators/${operator.id}/dns-record?x=1` },
    );
    await assertError(
      otherMethod.response,
      401,
      "ERR_REQUEST_SIGNATURE_INVALID",
    );

    // Signed by a key that is not the operator's.
    const stranger = await generateKeyPair();
    const forged = await signedRequest(fx, "POST", verifyPath, {}, {
      privateKey: stranger.privateKey,
      kid: operator.id,
    });
    await assertError(forged.response, 401, "ERR_REQUEST_SIGNATURE_INVALID");

    // A proof made too long ago, or in the future.
    for (const offset of [-301, 31]) {
      const signedAt = new Date(fx.clock.now().getTime() + offset * 1000);
      const skewed = await signedRequest(
        fx,
        "POST",
        verifyPath,
        {},
        operator.signer,
        {
          signedAt,
        },
      );
      await assertError(skewed.response, 401, "ERR_REQUEST_SIGNATURE_INVALID");
    }

    // None of these verified the domain.
    assert.equal(
      (await fx.store.getOperator(operator.id))?.verifiedAt,
      undefined,
    );
  });
});

Deno.test("signed requests: an operator acting on another operator is 403 ERR_FORBIDDEN", async () => {
  await withFixture(async (fx) => {
    const alice = await registerOperator(fx, "alice.example");
    const bob = await registerOperator(fx, "bob.example");
    publishDnsRecord(fx, bob);

    const read = await signedRequest(
      fx,
      "GET",
      `/v1/operators/${bob.id}/dns-record`,
      undefined,
      alice.signer,
    );
    await assertError(read.response, 403, "ERR_FORBIDDEN", "access_denied");

    const verify = await signedRequest(
      fx,
      "POST",
      `/v1/operators/${bob.id}/verify`,
      {},
      alice.signer,
    );
    await assertError(verify.response, 403, "ERR_FORBIDDEN");
    assert.equal((await fx.store.getOperator(bob.id))?.verifiedAt, undefined);
    assertNoInternalErrors(fx);
  });
});

Deno.test("operators: an unknown operator id is 404 ERR_OPERATOR_NOT_FOUND", async () => {
  await withFixture(async (fx) => {
    const response = await fx.app(
      new Request(`http://issuer.test/v1/operators/op_${"0".repeat(32)}`),
    );
    await assertError(response, 404, "ERR_OPERATOR_NOT_FOUND");
  });
});

Deno.test("operators: only the domain's verified operator reads its revocations", async () => {
  await withFixture(async (fx) => {
    const owner = await createVerifiedOperator(fx, "example.com");
    const agent = await createAgent(fx, owner);
    await fx.client.changeAgentStatus(
      agent.did,
      "suspend",
      "laptop stolen",
      owner.signer,
    );
    // Anyone may register an operator for the domain; it stays unverified.
    const squatter = await registerOperator(fx, "example.com");
    const path = (id: string) => `/v1/operators/${id}/revocations`;
    const refused = await signedRequest(
      fx,
      "GET",
      path(squatter.id),
      undefined,
      squatter.signer,
    );
    await assertError(refused.response, 400, "ERR_OPERATOR_NOT_VERIFIED");
    const listed = await assertOk(
      (await signedRequest(fx, "GET", path(owner.id), undefined, owner.signer))
        .response,
    );
    assert.deepEqual(
      (listed.agents as { did: string }[]).map((a) => a.did),
      [agent.did],
    );
  });
});

Deno.test("operators: a reason with control or format characters is refused, and nothing changes", async () => {
  await withFixture(async (fx) => {
    const owner = await createVerifiedOperator(fx, "example.com");
    const agent = await createAgent(fx, owner);
    for (
      const reason of ["line\nforged", "\u001b[2K", "\u202eevil", "\ud800"]
    ) {
      const { response } = await signedRequest(
        fx,
        "POST",
        `/v1/agents/${agent.did}/suspend`,
        { reason },
        owner.signer,
      );
      await assertError(response, 400, "ERR_INVALID_REQUEST");
    }
    assert.equal((await fx.store.getAgent(agent.did))?.status, "active");
    const { response } = await signedRequest(
      fx,
      "POST",
      `/v1/agents/${agent.did}/suspend`,
      { reason: "laptop stolen — café Zoë" },
      owner.signer,
    );
    assert.equal((await assertOk(response)).reason, "laptop stolen — café Zoë");
  });
});
