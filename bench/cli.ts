/**
 * The CLI end to end: wall time of `auth4agent issue` from process start to
 * the token printed on stdout, against the local server, median of repeated
 * runs — from source as `deno task auth4agent issue …` and, when
 * `dist/auth4agent` exists (`deno task compile`), the compiled binary.
 *
 * The agent's home is prepared the way a user does it: `auth4agent init`
 * and `auth4agent register agent` through the CLI; the operator (held by the
 * bench) grants the scope.
 */
import { IssuerClient } from "../src/client/issuer_client.ts";
import {
  DOMAIN,
  type OurServer,
  REPO,
  SCOPE,
  SERVE_PERMISSIONS,
} from "./ours.ts";
import { run } from "./procs.ts";
import { median } from "./stats.ts";

export interface CliTiming {
  command: string;
  runs: number;
  /** Process start to the token's newline on stdout, ms. */
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Process start to exit, ms (median). */
  medianExitMs: number;
  samplesMs: number[];
}

async function prepareHome(server: OurServer, home: string): Promise<void> {
  const env = { AUTH4AGENT_HOME: home, NO_COLOR: "1" };
  const cli = (args: string[]) =>
    run(Deno.execPath(), [
      "run",
      "--quiet",
      ...SERVE_PERMISSIONS,
      `${REPO}/main.ts`,
      ...args,
    ], { cwd: REPO, env });
  const url = `http://127.0.0.1:${server.port}`;
  await cli(["init", "--domain", DOMAIN, "--server", url]);
  const registered = JSON.parse(
    (await cli([
      "register",
      "agent",
      "--operator-id",
      server.operator.id,
      "--json",
    ])).stdout,
  );
  await new IssuerClient(url).setAgentScopes(
    registered.did,
    [SCOPE],
    server.operator.signer,
  );
}

/** One run: ms to the first line on stdout (the JWT) and to exit. */
async function timeOnce(
  cmd: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ printedMs: number; exitMs: number }> {
  const start = performance.now();
  const child = new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  let out = "";
  let printedMs = NaN;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    if (Number.isNaN(printedMs) && out.includes("\n")) {
      printedMs = performance.now() - start;
    }
  }
  const status = await child.status;
  const exitMs = performance.now() - start;
  const jwt = out.trim();
  if (!status.success || jwt.split(".").length !== 3) {
    throw new Error(
      `${cmd} ${
        args.join(" ")
      } failed (exit ${status.code}): ${out}\n${await stderr}`,
    );
  }
  await stderr;
  return { printedMs, exitMs };
}

async function timeCommand(
  label: string,
  cmd: string,
  args: string[],
  env: Record<string, string>,
  runs: number,
): Promise<CliTiming> {
  await timeOnce(cmd, args, env); // warm-up: caches, page cache
  const samples: { printedMs: number; exitMs: number }[] = [];
  for (let i = 0; i < runs; i++) samples.push(await timeOnce(cmd, args, env));
  const printed = samples.map((s) => s.printedMs);
  return {
    command: label,
    runs,
    medianMs: median(printed),
    minMs: Math.min(...printed),
    maxMs: Math.max(...printed),
    medianExitMs: median(samples.map((s) => s.exitMs)),
    samplesMs: printed.map((ms) => Math.round(ms * 10) / 10),
  };
}

export async function benchCli(
  server: OurServer,
  options: { runs: number; tmpDir: string },
): Promise<CliTiming[]> {
  const home = `${options.tmpDir}/cli-home`;
  await prepareHome(server, home);
  const env = { AUTH4AGENT_HOME: home, NO_COLOR: "1" };
  const issueArgs = ["issue", "--scope", SCOPE, "--aud", "api.example.com"];
  const results = [
    await timeCommand(
      "deno task auth4agent issue --scope read:payments --aud api.example.com",
      Deno.execPath(),
      ["task", "--quiet", "auth4agent", ...issueArgs],
      env,
      options.runs,
    ),
  ];
  // The compiled binary, where `deno task compile` could build it (it needs
  // Deno's runtime base, denort: DENORT_BIN on machines without download
  // access); the report says when it is missing.
  const binary = `${REPO}/dist/auth4agent`;
  const exists = await Deno.stat(binary).then((s) => s.isFile, () => false);
  if (exists) {
    results.push(
      await timeCommand(
        "dist/auth4agent issue --scope read:payments --aud api.example.com",
        binary,
        issueArgs,
        env,
        options.runs,
      ),
    );
  }
  return results;
}
