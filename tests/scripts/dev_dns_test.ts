/**
 * `deno task dev-dns` (scripts/dev_dns.ts), the README's local route for
 * domain verification: run as the task runs it, it answers the TXT records
 * appended to its file — the objects `verify-operator instructions --json`
 * prints — and NXDOMAIN for any other name.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../../scripts/dev_dns.ts", import.meta.url).pathname;

Deno.test("dev-dns: answers the TXT records appended to its file, and nothing else", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-devdns-" });
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-env=AUTH4AGENT_TASK_CWD",
      SCRIPT,
      "--port",
      "0",
      "--records",
      "dns.jsonl",
    ],
    env: { AUTH4AGENT_TASK_CWD: dir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await lines.read();
      if (done) throw new Error("dev-dns ended before it listened");
      first += value;
    }
    const port = Number(/127\.0\.0\.1:(\d+)/.exec(first)?.[1]);
    assert.ok(port > 0, first);
    const ask = (name: string) =>
      Deno.resolveDns(name, "TXT", {
        nameServer: { ipAddr: "127.0.0.1", port },
      });
    await assert.rejects(ask("_auth4agent-challenge.example.com"));
    // As `verify-operator instructions --json >> dns.jsonl` appends it.
    await Deno.writeTextFile(
      `${dir}/dns.jsonl`,
      JSON.stringify(
        {
          name: "_auth4agent-challenge.example.com",
          type: "TXT",
          value: "token=abc",
        },
        null,
        2,
      ) + "\n",
      { append: true },
    );
    let answer: string[][] | undefined;
    for (let i = 0; i < 40 && !answer; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      answer = await ask("_auth4agent-challenge.example.com").catch(() =>
        undefined
      );
    }
    assert.deepEqual(answer, [["token=abc"]]);
    await assert.rejects(ask("other.example.com"));
  } finally {
    child.kill("SIGTERM");
    await lines.cancel();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});
