/** `serve` stops cleanly on SIGTERM and SIGINT, also under `deno task`, and keeps its keys across restarts. */
import assert from "node:assert/strict";
import { spawnListening } from "../helpers/process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function serveUnderTask(db: string) {
  const { child, info, drained, log } = await spawnListening(
    Deno.execPath(),
    ["task", "--quiet", "serve", "--port", "0", "--db", db],
    { cwd: ROOT },
  );
  return { child, issuer: String(info.issuer), drained, lines: log };
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
