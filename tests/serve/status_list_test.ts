/**
 * The Token Status List through the real handler and `TokenVerifier`: every
 * token names its list and index, the list the issuer serves sets the bits
 * of revoked tokens (revoked one by one, by an agent's suspension, or with
 * the token they were delegated from), servers sharing a database never hand
 * out a number twice, and a verifier learns of a revocation within the
 * list's ttl, offline until the list expires.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { TokenVerifier } from "../../src/client/verifier.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  STATUS_LIST_LIFETIME_SECONDS,
  STATUS_LIST_MEDIA_TYPE,
  STATUS_LIST_SIZE,
  STATUS_LIST_TTL_SECONDS,
  statusAt,
  type StatusClaim,
  verifyStatusList,
} from "../../src/core/status_list.ts";
import { StatusIndexes } from "../../src/serve/status_indexes.ts";
import {
  asCaller,
  assertError,
  assertOk,
  createAgent,
  type Fixture,
  ISSUER,
  issueToken,
  revoke,
  send,
  setup,
  withFixture,
} from "./helpers.ts";

function statusOf(token: string): StatusClaim["status_list"] {
  return (jose.decodeJwt(token).status as StatusClaim).status_list;
}

/** The list `uri` as the issuer serves it, verified. */
async function fetchList(fx: Fixture, uri: string) {
  const response = await fx.app(
    new Request(uri, { headers: { Accept: STATUS_LIST_MEDIA_TYPE } }),
  );
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("Content-Type"), STATUS_LIST_MEDIA_TYPE);
  assert.equal(response.headers.get("Cache-Control"), "no-cache");
  const jwt = await response.text();
  const kid = jose.decodeProtectedHeader(jwt).kid!;
  const publicKey = await fx.keys.findPublicKey(kid, fx.clock.now());
  return verifyStatusList(jwt, {
    uri,
    key: (k) => k === kid ? publicKey : undefined,
    now: fx.clock.now(),
  });
}

/**
 * Whether the list the issuer serves a second from now has the token's bit
 * set: a revocation made here rebuilds a list once it is a second old.
 */
async function revokedInList(fx: Fixture, token: string): Promise<boolean> {
  fx.clock.advance(1);
  const { idx, uri } = statusOf(token);
  return statusAt((await fetchList(fx, uri)).bits, 1, idx) === 1;
}

Deno.test("status list: tokens name their list and index; revocation, suspension and delegation set their bits", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const other = await createAgent(fx, operator);
    const first = await issueToken(fx, agent);
    const second = await issueToken(fx, agent);
    const status = statusOf(first);
    assert.equal(status.uri, `${ISSUER}/oauth/status-lists/0`);
    assert.notEqual(statusOf(second).idx, status.idx);
    assert.equal(await revokedInList(fx, first), false);

    await assertOk(await revoke(fx, first, asCaller(agent)));
    assert.equal(await revokedInList(fx, first), true);
    assert.equal(await revokedInList(fx, second), false);

    // A delegation revoked: the token exchanged for it too.
    const delegation = await issueToken(fx, agent, { may_act: other.did });
    const exchanged = await issueToken(fx, other, {
      grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
      subject_token: delegation,
      subject_token_type: "urn:ietf:params:oauth:token-type:access_token",
    });
    assert.equal(await revokedInList(fx, exchanged), false);
    await assertOk(await revoke(fx, delegation, asCaller(agent)));
    assert.equal(await revokedInList(fx, exchanged), true);

    // A suspension: every live token of the agent.
    const third = await issueToken(fx, agent);
    await fx.client.changeAgentStatus(
      agent.did,
      "suspend",
      "t",
      operator.signer,
    );
    assert.equal(await revokedInList(fx, second), true);
    assert.equal(await revokedInList(fx, third), true);
  });
});

Deno.test("status list: servers sharing a store never hand out a number twice", async () => {
  await withFixture(async (fx) => {
    const a = new StatusIndexes(fx.store, 8);
    const b = new StatusIndexes(fx.store, 8);
    const seen = new Set<number>();
    const taken = await Promise.all(
      Array.from({ length: 100 }, (_, i) => (i % 2 ? a : b).next()),
    );
    for (const n of taken) seen.add(n);
    assert.equal(seen.size, 100);
  });
});

Deno.test("status list: list numbers are plain decimals; a list nobody used is all zeros", async () => {
  await withFixture(async (fx) => {
    for (const bad of ["01", "-1", "abc", "1.0", "9999999999"]) {
      await assertError(
        await send(fx, `/oauth/status-lists/${bad}`),
        404,
        "ERR_NOT_FOUND",
      );
    }
    const list = await fetchList(fx, `${ISSUER}/oauth/status-lists/7`);
    assert.equal(list.bits.length, STATUS_LIST_SIZE / 8);
    assert.ok(list.bits.every((byte) => byte === 0));
  });
});

Deno.test("TokenVerifier with status: refuses a revoked token within the list's ttl; offline, trusts a list until it expires", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    let down = false;
    const client = new IssuerClient(ISSUER, {
      fetch: (input, init) =>
        down
          ? Promise.reject(new TypeError("connection refused"))
          : fx.fetch(input, init),
      now: fx.clock.now,
    });
    const verifier = new TokenVerifier(client);
    const verify = (token: string) =>
      verifier.verify(token, {
        audience: null,
        status: true,
        now: fx.clock.now(),
      });
    const token = await issueToken(fx, agent);
    assert.equal((await verify(token)).sub, agent.did);

    await assertOk(await revoke(fx, token, asCaller(agent)));
    // Within the ttl the cached list still says valid (the documented delay).
    assert.equal((await verify(token)).sub, agent.did);
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    await assert.rejects(verify(token), isCode("ERR_TOKEN_INACTIVE"));

    // Offline: the last list stands until its exp, then nothing can be said.
    const fresh = await issueToken(fx, agent);
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    await verify(fresh);
    // The issuer up but its database down (500): the held list stands too.
    const read = fx.store.listRevokedStatusIndexes;
    fx.store.listRevokedStatusIndexes = () =>
      Promise.reject(new Error("database down"));
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    assert.equal((await verify(fresh)).sub, agent.did);
    fx.store.listRevokedStatusIndexes = read;
    down = true;
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    assert.equal((await verify(fresh)).sub, agent.did);
    fx.clock.advance(STATUS_LIST_LIFETIME_SECONDS);
    await assert.rejects(verify(fresh), isCode("ERR_ISSUER_UNREACHABLE"));
  }, { tokenTtl: 3600 });
});

Deno.test("TokenVerifier with status: a token without a status list, or naming a list elsewhere, is refused", async () => {
  await withFixture(async (fx) => {
    const verifier = new TokenVerifier(fx.client);
    const now = fx.clock.now();
    const { agent } = await setup(fx);
    const claims = jose.decodeJwt(await issueToken(fx, agent));
    const signingKey = fx.keys.signingKey(now);
    const sign = (payload: Record<string, unknown>) =>
      new jose.SignJWT(payload)
        .setProtectedHeader({
          alg: "EdDSA",
          typ: "at+jwt",
          kid: signingKey.kid,
        })
        .sign(signingKey.privateKey);
    const { status: _status, ...withoutStatus } = claims;
    const elsewhere = {
      ...claims,
      status: {
        status_list: {
          idx: 1,
          uri: "https://attacker.example/oauth/status-lists/0",
        },
      },
    };
    for (const payload of [withoutStatus, elsewhere]) {
      await assert.rejects(
        verifier.verify(await sign(payload), {
          audience: null,
          status: true,
          now,
        }),
        isCode("ERR_STATUS_LIST_INVALID"),
      );
      // Without `status` the same tokens verify (nothing is asked of the list).
      await verifier.verify(await sign(payload), { audience: null, now });
    }
  });
});

function isCode(code: string) {
  return (error: unknown) =>
    error instanceof Auth4AgentError && error.code === code;
}

Deno.test("status list: a token revoked within the verifiers' clock leeway after its exp is still revoked, and set", async () => {
  await withFixture(async (fx) => {
    const { operator, agent } = await setup(fx);
    const token = await issueToken(fx, agent, { expires_in: "60" });
    const other = await issueToken(fx, agent, { expires_in: "60" });
    fx.clock.advance(60 + 20); // expired, but verifiers take it 30 s more
    const answer = await assertOk<{ revoked?: boolean }>(
      await revoke(fx, token, asCaller(agent)),
    );
    assert.equal(answer.revoked, true);
    assert.equal(await revokedInList(fx, token), true);
    await fx.client.changeAgentStatus(
      agent.did,
      "suspend",
      "t",
      operator.signer,
    );
    assert.equal(await revokedInList(fx, other), true);
  });
});

/**
 * A TokenVerifier with status checks whose fetch of `uri` (a status list)
 * goes through `listFetch` (the issuer's own answer unless it answers
 * otherwise) and is counted.
 */
function statusVerifier(
  fx: Fixture,
  uri: string,
  listFetch: (issuer: () => Promise<Response>) => Promise<Response> = (
    issuer,
  ) => issuer(),
): { verify: (token: string) => Promise<unknown>; listAsks: () => number } {
  let asks = 0;
  const client = new IssuerClient(ISSUER, {
    fetch: (input, init) => {
      const url = input instanceof Request ? input.url : String(input);
      if (url !== uri) return fx.fetch(input, init);
      asks++;
      return listFetch(() => fx.fetch(input, init));
    },
    now: fx.clock.now,
  });
  const verifier = new TokenVerifier(client);
  return {
    verify: (token) =>
      verifier.verify(token, {
        audience: null,
        status: true,
        now: fx.clock.now(),
      }),
    listAsks: () => asks,
  };
}

Deno.test("TokenVerifier with status: an older list (a replay, a stale cache) never replaces a newer one", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const { uri } = statusOf(token);
    const served: { replay?: string } = {};
    const { verify } = statusVerifier(
      fx,
      uri,
      (issuer) =>
        served.replay === undefined ? issuer() : Promise.resolve(
          new Response(served.replay, {
            headers: { "Content-Type": STATUS_LIST_MEDIA_TYPE },
          }),
        ),
    );
    await verify(token);
    const before = await (await fx.app(new Request(uri))).text();
    await assertOk(await revoke(fx, token, asCaller(agent)));
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    await assert.rejects(verify(token), isCode("ERR_TOKEN_INACTIVE"));
    // The list from before the revocation, served again: not taken.
    served.replay = before;
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    await assert.rejects(verify(token), isCode("ERR_TOKEN_INACTIVE"));
  }, { tokenTtl: 3600 });
});

Deno.test("TokenVerifier with status: through an outage, the held list answers and the issuer is asked at most every 5 s, not on every call", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    let down = false;
    const { verify, listAsks } = statusVerifier(
      fx,
      statusOf(token).uri,
      (issuer) =>
        down ? Promise.reject(new TypeError("connection refused")) : issuer(),
    );
    await verify(token);
    assert.equal(listAsks(), 1);
    down = true;
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    await verify(token);
    assert.equal(listAsks(), 2);
    for (let i = 0; i < 4; i++) {
      fx.clock.advance(1);
      await verify(token);
    }
    assert.equal(listAsks(), 2, "the held list answered meanwhile");
    fx.clock.advance(2);
    await verify(token);
    assert.equal(listAsks(), 3);
  }, { tokenTtl: 3600 });
});

for (
  const [what, answer] of [
    [
      "a 200 that is not a status list (a captive portal, a proxy)",
      () =>
        new Response("<html>login</html>", {
          headers: { "Content-Type": "text/html" },
        }),
    ],
    [
      "a status list that does not verify",
      () =>
        new Response("eyJhbGciOiJFZERTQSJ9.e30.AAAA", {
          headers: { "Content-Type": STATUS_LIST_MEDIA_TYPE },
        }),
    ],
    [
      "a body that is not UTF-8",
      () =>
        new Response(new Uint8Array([0xff, 0xfe, 0x2e]), {
          headers: { "Content-Type": STATUS_LIST_MEDIA_TYPE },
        }),
    ],
  ] as const
) {
  Deno.test(`TokenVerifier with status: ${what} is no outage: the held list does not stand in for it, on any call`, async () => {
    await withFixture(async (fx) => {
      const { agent } = await setup(fx);
      const token = await issueToken(fx, agent);
      let bad = false;
      const { verify } = statusVerifier(
        fx,
        statusOf(token).uri,
        (issuer) => bad ? Promise.resolve(answer()) : issuer(),
      );
      await verify(token);
      await assertOk(await revoke(fx, token, asCaller(agent)));
      bad = true;
      fx.clock.advance(STATUS_LIST_TTL_SECONDS);
      for (let call = 0; call < 4; call++) {
        // Refused with a code of ours, never a bare TypeError.
        await assert.rejects(
          verify(token),
          (error) => error instanceof Auth4AgentError,
          `call ${call}`,
        );
        fx.clock.advance(1);
      }
    }, { tokenTtl: 3600 });
  });
}

Deno.test("TokenVerifier with status: a call during a refetch waits for it, not the stale list", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const token = await issueToken(fx, agent);
    const other = await issueToken(fx, agent);
    let slow = false;
    const { verify } = statusVerifier(
      fx,
      statusOf(token).uri,
      async (issuer) => {
        if (slow) await new Promise((resolve) => setTimeout(resolve, 200));
        return issuer();
      },
    );
    await verify(token);
    await assertOk(await revoke(fx, token, asCaller(agent)));
    fx.clock.advance(STATUS_LIST_TTL_SECONDS);
    slow = true;
    const first = verify(other); // starts the refetch
    await assert.rejects(verify(token), isCode("ERR_TOKEN_INACTIVE"));
    await first;
  }, { tokenTtl: 3600 });
});
