/**
 * The README's alias runs the CLI through `deno task --config <repo>/deno.json`
 * from any folder; `deno task` runs in the repository folder, so the task
 * hands main.ts the folder the command was typed in (AUTH4AGENT_TASK_CWD,
 * from INIT_CWD): a relative --home is the user's, not the repository's. An
 * INIT_CWD inherited from elsewhere (an npm script) moves nothing else.
 */
import assert from "node:assert/strict";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

function withoutInitCwd(env: Record<string, string>): Record<string, string> {
  const { INIT_CWD: _, ...rest } = env;
  return rest;
}

/** `deno <runner…> --home rel-home init …` in `cwd`; fails the test unless it exits 0. */
async function initRelativeHome(
  runner: string[],
  options: { cwd: string; env: Record<string, string>; clearEnv?: boolean },
): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...runner,
      "--home",
      "rel-home",
      "init",
      "--domain",
      "example.com",
      "--server",
      "http://localhost:8080",
    ],
    ...options,
    stdin: "null",
  }).output();
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
}

Deno.test("cli alias: deno task --config from another folder takes relative paths from that folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-alias-" });
  try {
    await initRelativeHome([
      "task",
      "--quiet",
      "--config",
      CONFIG,
      "auth4agent",
    ], {
      cwd: dir,
      // As typed in a shell in `dir`: whatever launched this test (npm's npx
      // sets INIT_CWD too) is not the folder the user is in.
      clearEnv: true,
      env: { ...withoutInitCwd(Deno.env.toObject()), NO_COLOR: "1" },
    });
    const key = await Deno.stat(`${dir}/rel-home/keys/agent.key`);
    assert.ok(key.isFile);
    await assert.rejects(
      Deno.stat(new URL("../../rel-home", import.meta.url)),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli alias: an INIT_CWD inherited from an npm script does not move a plain deno run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-alias-" });
  try {
    await Deno.mkdir(`${dir}/here`);
    await Deno.mkdir(`${dir}/elsewhere`);
    await initRelativeHome([
      "run",
      "--quiet",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--config",
      CONFIG,
      new URL("../../main.ts", import.meta.url).pathname,
    ], {
      cwd: `${dir}/here`,
      env: { INIT_CWD: `${dir}/elsewhere`, NO_COLOR: "1" },
    });
    assert.ok((await Deno.stat(`${dir}/here/rel-home/agent.json`)).isFile);
    await assert.rejects(
      Deno.stat(`${dir}/elsewhere/rel-home`),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
