/**
 * Group commit (src/store/group_commit.ts): the writes of one batch share a
 * transaction without savepoints; when one throws, it alone is undone —
 * including what it wrote before it failed — and the others are kept.
 */
import assert from "node:assert/strict";
import { GroupCommit } from "../../src/store/group_commit.ts";
import { DuplicateError } from "../../src/store/store.ts";
import { AT, issuance, issuingConnection } from "./issuance_fixture.ts";

Deno.test("group commit: a write that fails midway is undone alone; the batch's others are kept", async () => {
  const c = issuingConnection();
  const writer = new GroupCommit(c);
  // One batch: the second issuance consumes its assertion's jti, then fails
  // on a token id the first one took.
  const results = await Promise.allSettled([
    writer.submit("recordIssuance", [...issuance("t1", "a1")]),
    writer.submit("recordIssuance", [...issuance("t1", "a2")]),
    writer.submit("recordIssuance", [...issuance("t3", "a3")]),
  ]);
  assert.deepEqual(results[0], { status: "fulfilled", value: "recorded" });
  assert.equal(results[1]!.status, "rejected");
  assert.ok(
    (results[1] as PromiseRejectedResult).reason instanceof DuplicateError,
  );
  assert.deepEqual(results[2], { status: "fulfilled", value: "recorded" });

  const count = (sql: string) => Number((c.db.prepare(sql).get()!).n);
  assert.equal(count("SELECT count(*) AS n FROM tokens"), 2);
  // a2 was consumed before the failure; that is undone with the write.
  assert.equal(
    count("SELECT count(*) AS n FROM replay_log WHERE jti = 'a2'"),
    0,
  );
  assert.equal(count("SELECT count(*) AS n FROM replay_log"), 2);
  // The audit chain holds the two issuances, linked.
  const audit = c.db.prepare(
    "SELECT seq, target, prev_hash, hash FROM audit ORDER BY seq",
  )
    .all();
  assert.deepEqual(audit.map((row) => row.target), ["t1", "t3"]);
  assert.equal(audit[1]!.prev_hash, audit[0]!.hash);

  // The assertion a2 can be used again, in a batch of its own.
  assert.equal(
    await writer.submit("recordIssuance", [...issuance("t2", "a2")]),
    "recorded",
  );
  await writer.close();
  c.close();
});

Deno.test("group commit: a batch without failures runs as one transaction", async () => {
  const c = issuingConnection();
  const writer = new GroupCommit(c);
  const results = await Promise.all(
    Array.from(
      { length: 20 },
      (_, i) =>
        writer.submit("recordIssuance", [...issuance(`t${i}`, `a${i}`)]),
    ),
  );
  assert.ok(results.every((value) => value === "recorded"));
  // A replay in a later batch is refused, with nothing written.
  assert.equal(
    await writer.submit("recordIssuance", [...issuance("t99", "a5")]),
    "replayed",
  );
  const tokens = Number(
    (c.db.prepare("SELECT count(*) AS n FROM tokens").get()!).n,
  );
  assert.equal(tokens, 20);
  await writer.close();
  c.close();
});

Deno.test("group commit: held, writes queue up uncommitted; resumed, they commit", async () => {
  const c = issuingConnection();
  const writer = new GroupCommit(c);
  writer.hold();
  let done = false;
  const write = writer.submit("recordIssuance", [...issuance("t1", "a1")])
    .then((value) => {
      done = true;
      return value;
    });
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(done, false);
  const tokens = () =>
    Number((c.db.prepare("SELECT count(*) AS n FROM tokens").get()!).n);
  assert.equal(tokens(), 0, "nothing committed while held");
  writer.resume();
  assert.equal(await write, "recorded");
  assert.equal(tokens(), 1);
  // close() commits what a hold kept back, too.
  writer.hold();
  const last = writer.submit("recordIssuance", [...issuance("t2", "a2")]);
  await writer.close();
  assert.equal(await last, "recorded");
  assert.equal(tokens(), 2);
  c.close();
});

Deno.test("sweep write: deletes at most its limit, challenges first, then replay entries", async () => {
  const c = issuingConnection();
  const writer = new GroupCommit(c);
  const expired = new Date(AT.getTime() - 1_000);
  await Promise.all([
    ...Array.from({ length: 3 }, (_, i) =>
      writer.submit("createChallenge", [{
        nonce: `n${i}`,
        kind: "request_nonce" as const,
        subject: "",
        expiresAt: expired,
      }])),
    ...Array.from(
      { length: 5 },
      (_, i) =>
        writer.submit("consumeSingleUse", [{
          clientId: "client",
          jti: `j${i}`,
          expiresAt: expired,
        }]),
    ),
  ]);
  assert.equal(await writer.submit("sweep", [AT, 4]), 4);
  assert.equal(await writer.submit("sweep", [AT, 4]), 4);
  assert.equal(await writer.submit("sweep", [AT, 4]), 0);
  await writer.close();
  c.close();
});
