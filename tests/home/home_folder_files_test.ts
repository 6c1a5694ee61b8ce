/**
 * Odd or hostile files in the home folder fail with ERR_HOME_INVALID naming
 * the file, never with an internal error, a hang or a huge read: an
 * identity file that is a folder, a link loop, a FIFO or a device; a --home
 * that is a file; and a key file that is not a key. `--home ""` is a usage
 * error.
 */
import assert from "node:assert/strict";
import { ISSUER, run, withTempDir } from "./_home_cli.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const INIT = ["init", "--domain", "example.com", "--server", ISSUER];

/** `whoami` as a subprocess, killed after 30 s: a FIFO would block a read forever. */
async function whoamiProcess(home: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--allow-all", MAIN, "--home", home, "whoami"],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  return { exit: output.code, stderr };
}

Deno.test("whoami: agent.json a folder, a link loop or a link to /dev/zero is ERR_HOME_INVALID naming it", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    assert.equal((await run(["--home", home, ...INIT])).exit, 0);
    const file = `${home}/agent.json`;
    const odd: [string, () => Promise<void>][] = [
      ["a folder", () => Deno.mkdir(file)],
      ["a link loop", () => Deno.symlink(file, file)],
      ["a link to /dev/zero", () => Deno.symlink("/dev/zero", file)],
    ];
    for (const [what, make] of odd) {
      await Deno.remove(file, { recursive: true });
      await make();
      const result = await run(["--home", home, "whoami"]);
      assert.equal(
        result.code,
        "ERR_HOME_INVALID",
        `${what}: ${result.stderr}`,
      );
      assert.equal(result.exit, 3);
      assert.ok(result.stderr.includes(file), result.stderr);
    }
  });
});

Deno.test("whoami: agent.json a FIFO is refused at once, not read", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    assert.equal((await run(["--home", home, ...INIT])).exit, 0);
    await Deno.remove(`${home}/agent.json`);
    const made = await new Deno.Command("mkfifo", {
      args: [`${home}/agent.json`],
    }).output();
    assert.ok(made.success, "mkfifo");
    const result = await whoamiProcess(home);
    assert.equal(result.exit, 3, result.stderr);
    assert.match(
      result.stderr,
      /agent\.json is not a regular file.*ERR_HOME_INVALID/,
    );
  });
});

Deno.test("--home naming a file is ERR_HOME_INVALID for reads and writes", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/file`;
    await Deno.writeTextFile(file, "not a folder");
    for (const args of [["whoami"], INIT]) {
      const result = await run(["--home", file, ...args]);
      assert.equal(result.code, "ERR_HOME_INVALID", result.stderr);
      assert.ok(result.stderr.includes(file), result.stderr);
    }
  });
});

Deno.test("rotate-key: a corrupt keys/agent.key.next is ERR_INVALID_KEY naming the file", async () => {
  await withTempDir(async (dir) => {
    const home = `${dir}/home`;
    assert.equal((await run(["--home", home, ...INIT])).exit, 0);
    const agent = JSON.parse(await Deno.readTextFile(`${home}/agent.json`));
    await Deno.writeTextFile(
      `${home}/agent.json`,
      JSON.stringify({ ...agent, operator_id: `op_${"ab".repeat(16)}` }),
    );
    await Deno.writeTextFile(`${home}/keys/agent.key.next`, "garbage\n", {
      mode: 0o600,
    });
    const result = await run(["--home", home, "rotate-key"]);
    assert.equal(result.code, "ERR_INVALID_KEY", result.stderr);
    assert.ok(result.stderr.includes("keys/agent.key.next"), result.stderr);
  });
});

Deno.test('--home "" is a usage error', async () => {
  const result = await run(["--home", "", "whoami"]);
  assert.equal(result.code, "ERR_USAGE", result.stderr);
  assert.equal(result.exit, 2);
});
