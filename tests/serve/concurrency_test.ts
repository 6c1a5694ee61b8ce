/**
 * Single use under concurrency: the same client assertion sent 25 times at
 * once gets exactly one token, whether it carries a challenge nonce or only a
 * jti — on an in-memory store, on a store in a temp file, and on two issuer
 * instances sharing one database file.
 */
import assert from "node:assert/strict";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  challengeNonce,
  createFixture,
  type Fixture,
  postForm,
  setup,
  type TestAgent,
  tokenParams,
  withFixture,
  withTempDir,
} from "./helpers.ts";

const COPIES = 25;

/** Sends the same form COPIES times at once, spread over the given apps. */
async function burst(
  apps: Fixture[],
  params: Record<string, string>,
): Promise<{ status: number; code?: string }[]> {
  const responses = await Promise.all(
    Array.from(
      { length: COPIES },
      (_, i) => postForm(apps[i % apps.length]!, "/oauth/token", params),
    ),
  );
  return await Promise.all(responses.map(async (response) => {
    const body = await response.json();
    return { status: response.status, code: body.error_code };
  }));
}

function assertExactlyOne(
  outcomes: { status: number; code?: string }[],
  refusal: { status: number; code: string },
): void {
  const ok = outcomes.filter((o) => o.status === 200);
  assert.equal(ok.length, 1, JSON.stringify(outcomes));
  const refused = outcomes.filter((o) => o.status !== 200);
  assert.equal(refused.length, COPIES - 1);
  for (const outcome of refused) {
    assert.deepEqual(outcome, refusal);
  }
}

async function challengeBurst(apps: Fixture[], agent: TestAgent) {
  const nonce = await challengeNonce(apps[0]!, agent.did);
  const params = await tokenParams(apps[0]!, agent, { nonce });
  assertExactlyOne(await burst(apps, params), {
    status: 400,
    code: "ERR_CHALLENGE_INVALID",
  });
}

async function jtiBurst(apps: Fixture[], agent: TestAgent) {
  const params = await tokenParams(apps[0]!, agent);
  assertExactlyOne(await burst(apps, params), {
    status: 401,
    code: "ERR_ASSERTION_REPLAYED",
  });
}

Deno.test("concurrency (memory): one challenge assertion sent 25 times at once → exactly one 200", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    await challengeBurst([fx], agent);
  });
});

Deno.test("concurrency (memory): one jti-only assertion sent 25 times at once → exactly one 200", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    await jtiBurst([fx], agent);
  });
});

Deno.test("concurrency (file): challenge and jti assertions sent 25 times at once → exactly one 200 each", async () => {
  await withTempDir(async (dir) => {
    await withFixture(async (fx) => {
      const { agent } = await setup(fx);
      await challengeBurst([fx], agent);
      await jtiBurst([fx], agent);
    }, { store: new SqliteStore(`${dir}/issuer.db`) });
  });
});

Deno.test("concurrency (two instances, one file): exactly one 200 across both", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/issuer.db`;
    const dns = new Map<string, string[][]>();
    const a = await createFixture({ store: new SqliteStore(path), dns });
    try {
      const b = await createFixture({
        store: new SqliteStore(path),
        dns,
        clock: a.clock,
      });
      try {
        assert.equal(
          b.keys.signingKey(b.clock.now()).kid,
          a.keys.signingKey(a.clock.now()).kid,
          "one signing key",
        );
        const { agent } = await setup(a);
        await challengeBurst([a, b], agent);
        await jtiBurst([b, a], agent);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  });
});
