/**
 * (c) The forged-token catalogue (_forge.ts) against `auth4agent verify`, run
 * as a subprocess against a real server: each forgery must exit 1 with the
 * expected `(ERR_…)` code on stderr, and each control must pass. The server
 * runs on a temporary database; the test reads the server's signing key from
 * it, so that forgeries signed with the issuer's real key (wrong claims,
 * oversize, crit, …) are refused for their flaw and not for the key — which
 * the controls, signed the same way, prove.
 *
 * Everything runs in one test to start one server; the verifications run a
 * few at a time, each worker with its own home folder (its own JWKS cache).
 */
import assert from "node:assert/strict";
import { importPrivateKeyPem } from "../../src/core/keys.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { startDnsServer } from "../helpers/dns_server.ts";
import {
  ok,
  registeredAgent,
  verifiedOperator,
} from "../helpers/identities.ts";
import { cli, type CliResult, startServerProcess } from "../helpers/process.ts";
import {
  controls,
  everyForgery,
  type Forgery,
  type IssuerKey,
  type Target,
} from "./_forge.ts";

const AUDIENCE = "https://api.example.com";
const WORKERS = 8;
/** Seconds beyond the leeway for time-based forgeries: the CLI's clock runs on. */
const MARGIN = 120;

/** The server's current signing key, read from its database. */
async function serverKey(db: string): Promise<IssuerKey> {
  const store = new SqliteStore(db);
  try {
    const [record] = await store.listSigningKeys();
    assert.ok(record, "the server made a signing key");
    const { privateKey, publicJwk } = await importPrivateKeyPem(
      record.privatePem,
    );
    return { kid: record.kid, privateKey, publicJwk };
  } finally {
    await store.close();
  }
}

function verify(
  server: string,
  home: string,
  token: string,
  audience?: string,
): Promise<CliResult> {
  const args = ["verify", `--token=${token}`, "--server", server];
  if (audience !== undefined) args.push("--aud", audience);
  return cli(args, { home });
}

/** Runs `work` over `items` with at most `limit` at a time, worker index given. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  work: (item: T, worker: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async (_, worker) => {
      while (next < items.length) await work(items[next++]!, worker);
    }),
  );
}

/** Why the CLI's answer is not the refusal expected, or undefined when it is. */
function mismatch(forgery: Forgery, result: CliResult): string | undefined {
  const printed = /\((ERR_[A-Z_]+)\)/.exec(result.stderr)?.[1];
  if (result.code === 1 && printed === forgery.code) return undefined;
  return `${forgery.name}: expected exit 1 (${forgery.code}), got exit ${result.code} (${
    printed ?? "no code"
  }): ${result.stderr.trim().slice(0, 300)}`;
}

Deno.test("forged access tokens (CLI verify against a real server): every forgery is refused with its code", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-security-cli-" });
  const db = `${dir}/issuer.db`;
  const dns = await startDnsServer();
  const server = await startServerProcess([
    "--db",
    db,
    "--dns-server",
    dns.address,
  ]);
  try {
    const url = server.issuer;
    const ops = `${dir}/ops`;
    const agentHome = `${dir}/agent`;
    const operatorId = await verifiedOperator(ops, "example.com", url, dns);
    const did = await registeredAgent(
      agentHome,
      "example.com",
      url,
      operatorId,
    );
    ok(
      await cli([
        "agent-scopes",
        "set",
        "--scopes",
        "read:data,write:data",
        "--agent",
        did,
      ], { home: ops }),
      "grant",
    );
    const issue = async (scope: string) =>
      ok(
        await cli(["issue", "--scope", scope, "--aud", AUDIENCE], {
          home: agentHome,
        }),
        `issue ${scope}`,
      ).stdout.trim();
    const tokens = [
      await issue("read:data"),
      await issue("write:data"),
    ] as const;
    const agentKey = await importPrivateKeyPem(
      await Deno.readTextFile(`${agentHome}/keys/agent.key`),
    );
    const target: Target = {
      issuer: server.issuer,
      key: await serverKey(db),
      tokens,
      audience: AUDIENCE,
      agent: {
        did,
        privateKey: agentKey.privateKey,
        publicJwk: agentKey.publicJwk,
      },
      now: new Date(),
      margin: MARGIN,
    };

    await t.step("controls pass", async () => {
      for (const control of await controls(target)) {
        const result = await verify(
          url,
          `${dir}/verifier-control`,
          control.token,
          control.audience,
        );
        assert.equal(
          result.code,
          0,
          `${control.name}: exit ${result.code}: ${result.stderr}`,
        );
      }
    });

    await t.step("every forgery is refused", async () => {
      const forgeries = await everyForgery(target);
      const mismatches: string[] = [];
      await pool(forgeries, WORKERS, async (forgery, worker) => {
        const result = await verify(
          url,
          `${dir}/verifier-${worker}`,
          forgery.token,
          forgery.audience,
        );
        const wrong = mismatch(forgery, result);
        if (wrong) mismatches.push(wrong);
      });
      assert.deepEqual(mismatches, [], mismatches.join("\n"));
      assert.ok(forgeries.length > 100, `only ${forgeries.length} forgeries`);
    });
  } finally {
    await server.stop();
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
