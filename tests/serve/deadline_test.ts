/** Deadlines on one shared timer: each fires on time, none fires for work that settled. */
import assert from "node:assert/strict";
import { withDeadline } from "../../src/serve/deadline.ts";

class Late extends Error {}
const late = () => new Late("late");
const isLate = (error: unknown) => error instanceof Late;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

Deno.test("deadline: work that settles in time keeps its outcome", async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 50, late), 7);
  await assert.rejects(
    withDeadline(Promise.reject(new RangeError("own")), 50, late),
    RangeError,
  );
  const slow = deferred<string>();
  const result = withDeadline(slow.promise, 200, late);
  await sleep(20);
  slow.resolve("done");
  assert.equal(await result, "done");
});

Deno.test("deadline: work that does not settle in time gets the timeout error, not before", async () => {
  const started = Date.now();
  await assert.rejects(withDeadline(new Promise(() => {}), 60, late), isLate);
  assert.ok(
    Date.now() - started >= 59,
    `fired after ${Date.now() - started} ms`,
  );
});

Deno.test("deadline: a shorter deadline that comes after a longer one still fires on time", async () => {
  const long = deferred<string>();
  const longResult = withDeadline(long.promise, 10_000, late);
  const started = Date.now();
  await assert.rejects(withDeadline(new Promise(() => {}), 40, late), isLate);
  assert.ok(
    Date.now() - started < 2_000,
    "the short deadline waited for the long one",
  );
  // The long one is still running and keeps its own outcome.
  long.resolve("long");
  assert.equal(await longResult, "long");
});

Deno.test("deadline: many at once, each expires or settles on its own", async () => {
  const work = Array.from({ length: 50 }, () => deferred<number>());
  const results = work.map((w, i) =>
    withDeadline(w.promise, i % 2 === 0 ? 30 : 5_000, late).then(
      (value) => ({ value }),
      (error) => ({ error }),
    )
  );
  await sleep(80);
  work.forEach((w, i) => w.resolve(i));
  const outcomes = await Promise.all(results);
  outcomes.forEach((outcome, i) => {
    if (i % 2 === 0) {
      assert.ok("error" in outcome && isLate(outcome.error), `#${i}`);
    } else assert.deepEqual(outcome, { value: i });
  });
});

Deno.test("deadline: the timer holds the process only while work is pending", async () => {
  const module = new URL("../../src/serve/deadline.ts", import.meta.url).href;
  const run = async (code: string) => {
    const started = Date.now();
    const { code: exit, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", `import { withDeadline } from "${module}";\n${code}`],
      stdout: "piped",
      stderr: "null",
    }).output();
    return {
      exit,
      out: new TextDecoder().decode(stdout).trim(),
      ms: Date.now() - started,
    };
  };
  // Settled work leaves the timer armed for a minute, yet the process ends.
  const settled = await run(
    `console.log(await withDeadline(Promise.resolve("ok"), 60_000, () => new Error("late")));`,
  );
  assert.deepEqual([settled.exit, settled.out], [0, "ok"]);
  assert.ok(settled.ms < 30_000, `exited after ${settled.ms} ms`);
  // Pending work keeps it alive until its deadline fires (no top-level
  // await here: that alone would keep it alive).
  const stalled = await run(
    `withDeadline(new Promise(() => {}), 200, () => new Error("late")).catch((e) => console.log(e.message));`,
  );
  assert.deepEqual([stalled.exit, stalled.out], [0, "late"]);
});
