/** `serve` stops cleanly on SIGTERM and SIGINT, also under `deno task`, and keeps its keys across restarts. */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

async function serveUnderTask(
  db: string,
): Promise<
  {
    child: Deno.ChildProcess;
    issuer: string;
    drained: Promise<void>;
    lines: () => string;
  }
> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "serve", "--port", "0", "--db", db],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  while (!log.includes('"msg":"listening"')) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`serve exited early:\n${log}`);
    log += value;
  }
  const drain = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      log += value;
    }
  })();
  const issuer =
    JSON.parse(log.split("\n").find((l) => l.includes('"listening"'))!).issuer;
  return { child, issuer, drained: drain, lines: () => log };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`deno task serve exits cleanly on ${signal}`, async () => {
    const dir = await Deno.makeTempDir();
    try {
      const first = await serveUnderTask(`${dir}/issuer.db`);
      const jwks = await (await fetch(`${first.issuer}/.well-known/jwks.json`))
        .json();
      first.child.kill(signal);
      const status = await first.child.status;
      await first.drained;
      assert.equal(status.code, 0, first.lines());
      assert.match(first.lines(), /"msg":"stopped"/);

      // The signing key was kept: a restart publishes the same kid.
      const second = await serveUnderTask(`${dir}/issuer.db`);
      const again =
        await (await fetch(`${second.issuer}/.well-known/jwks.json`)).json();
      assert.deepEqual(
        again.keys.map((k: { kid: string }) => k.kid),
        jwks.keys.map((k: { kid: string }) => k.kid),
      );
      second.child.kill("SIGTERM");
      assert.equal((await second.child.status).code, 0);
      await second.drained;
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
