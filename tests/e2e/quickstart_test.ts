/**
 * The seed's Quick Start, end to end: the real server and a real DNS server on
 * loopback, and the eight steps typed through the CLI as subprocesses, plus
 * the refusals a user can run into on the way.
 */
import assert from "node:assert/strict";
import { startDnsServer } from "../helpers/dns_server.ts";
import { ok, refused } from "../helpers/identities.ts";
import { argv, cli, startServerProcess } from "../helpers/process.ts";

Deno.test("quick start: operator, DNS-verified domain, agent, scopes, token, offline and online verification", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-e2e-" });
  const dns = await startDnsServer();
  const server = await startServerProcess([
    "--db",
    `${dir}/issuer.db`,
    "--dns-server",
    `localhost:${dns.port}`, // by name: the other e2e tests name it by address
  ]);
  const url = `http://localhost:${server.port}`;
  const home = `${dir}/home`;
  // The commands of the seed's README, verbatim but for the port.
  const run = (line: string) =>
    cli(argv(line.replace("http://localhost:8080", url)), { home });
  try {
    let operatorId = "";
    let token = "";

    await t.step("1. auth4agent init --operator", async () => {
      ok(
        await run(
          "auth4agent init --operator --domain example.com --server http://localhost:8080",
        ),
        "init --operator",
      );
      const mode = (await Deno.stat(`${home}/keys/operator.key`)).mode! & 0o777;
      assert.equal(mode, 0o600);
      assert.equal((await Deno.stat(home)).mode! & 0o777, 0o700);
      assert.match(
        await Deno.readTextFile(`${home}/keys/operator.key`),
        /^-----BEGIN PRIVATE KEY-----/,
      );
      refused(
        await run(
          "auth4agent init --operator --domain example.com --server http://localhost:8080",
        ),
        "ERR_HOME_EXISTS",
      );
    });

    await t.step("2. auth4agent register operator", async () => {
      const result = ok(
        await cli(["register", "operator", "--json"], { home }),
        "register operator",
      );
      operatorId = JSON.parse(result.stdout).operator_id;
      assert.match(operatorId, /^op_[0-9a-f]{32}$/);
      const file = JSON.parse(await Deno.readTextFile(`${home}/operator.json`));
      assert.equal(file.operator_id, operatorId);
    });

    await t.step(
      "3. auth4agent verify-operator instructions / confirm",
      async () => {
        refused(
          await run("auth4agent verify-operator confirm"),
          "ERR_DNS_RECORD_MISSING",
        );
        const human = ok(
          await run("auth4agent verify-operator instructions"),
          "instructions",
        );
        assert.match(human.stdout, /_auth4agent-challenge\.example\.com/);
        const record = JSON.parse(
          ok(
            await cli(["verify-operator", "instructions", "--json"], { home }),
            "instructions --json",
          ).stdout,
        );
        assert.deepEqual(Object.keys(record).sort(), ["name", "type", "value"]);
        assert.equal(record.type, "TXT");
        assert.match(record.name, /^_auth4agent[a-z-]*\.example\.com$/);
        assert.match(record.value, /^token=[A-Za-z0-9_-]{43}$/);

        dns.setTxt(record.name, [["token=wrong"]]);
        refused(
          await run("auth4agent verify-operator confirm"),
          "ERR_DNS_RECORD_MISMATCH",
        );

        // Published with a trailing dot and split in two strings, as DNS hosting panels do.
        const half = Math.floor(record.value.length / 2);
        dns.setTxt(`${record.name}.`, [["unrelated"], [
          record.value.slice(0, half),
          record.value.slice(half),
        ]]);
        const confirmed = ok(
          await run("auth4agent verify-operator confirm"),
          "confirm",
        );
        assert.match(confirmed.stdout, /example\.com verified/);
      },
    );

    let did = "";
    await t.step("4. auth4agent init (agent)", async () => {
      ok(
        await run(
          "auth4agent init --domain example.com --server http://localhost:8080",
        ),
        "init agent",
      );
      const file = JSON.parse(await Deno.readTextFile(`${home}/agent.json`));
      did = file.did;
      assert.match(did, /^did:agent:example\.com:[0-9a-f]{32}$/);
      assert.equal(file.domain, "example.com");
      assert.equal(file.server, url);
      assert.equal(
        (await Deno.stat(`${home}/keys/agent.key`)).mode! & 0o777,
        0o600,
      );
    });

    await t.step("5. auth4agent register agent --operator-id", async () => {
      ok(
        await run(`auth4agent register agent --operator-id ${operatorId}`),
        "register agent",
      );
      assert.equal(
        JSON.parse(await Deno.readTextFile(`${home}/agent.json`)).operator_id,
        operatorId,
      );
      // Deny by default: nothing is granted yet.
      refused(
        await run(
          "auth4agent issue --scope read:payments --aud api.example.com",
        ),
        "ERR_SCOPE_NOT_GRANTED",
      );
    });

    await t.step("6. auth4agent agent-scopes set", async () => {
      const result = ok(
        await run("auth4agent agent-scopes set --scopes read:payments"),
        "agent-scopes set",
      );
      assert.match(result.stdout, /read:payments/);
    });

    await t.step("7. auth4agent issue", async () => {
      const result = ok(
        await run(
          "auth4agent issue --scope read:payments --aud api.example.com",
        ),
        "issue",
      );
      token = result.stdout.trim();
      assert.match(
        token,
        /^[\w-]+\.[\w-]+\.[\w-]+$/,
        "stdout is the JWT alone",
      );
      assert.equal(result.stdout, token + "\n");
      const [header, payload] = token.split(".").slice(0, 2).map((part) =>
        JSON.parse(atob(part.replaceAll("-", "+").replaceAll("_", "/")))
      );
      assert.equal(header.alg, "EdDSA");
      assert.equal(header.typ, "at+jwt");
      assert.equal(typeof header.kid, "string");
      assert.equal(payload.iss, server.issuer);
      assert.equal(payload.sub, did);
      assert.equal(payload.client_id, did);
      assert.equal(payload.aud, "api.example.com");
      assert.equal(payload.scope, "read:payments");
      assert.equal(payload.exp - payload.iat, 900);
      // admin:root is never self-assigned.
      refused(
        await run("auth4agent issue --scope admin:root --aud api.example.com"),
        "ERR_SCOPE_NOT_GRANTED",
      );
    });

    await t.step("8. auth4agent verify, offline and --online", async () => {
      ok(await run(`auth4agent verify --token ${token}`), "verify");
      assert.ok(
        await Deno.stat(`${home}/cache/jwks.json`),
        "JWKS cached in the home folder",
      );
      ok(
        await run(`auth4agent verify --token ${token} --online`),
        "verify --online",
      );
      // The home's credential never goes to another server.
      refused(
        await run(
          `auth4agent verify --token ${token} --online --server http://127.0.0.1:9`,
        ),
        "ERR_USAGE",
        2,
      );
      ok(
        await run(
          `auth4agent verify --token ${token} --aud api.example.com --scope read:payments`,
        ),
        "verify with checks",
      );
      refused(
        await run(`auth4agent verify --token ${token} --aud other.example.com`),
        "ERR_TOKEN_AUDIENCE",
      );
      refused(
        await run(`auth4agent verify --token ${token} --scope write:payments`),
        "ERR_TOKEN_SCOPE",
      );
      const [h, p, s] = token.split(".");
      const tampered = `${h}.${p!.slice(0, -2)}${p!.endsWith("A") ? "B" : "A"}${
        p!.slice(-1)
      }.${s}`;
      refused(
        await cli(["verify", "--token", tampered], { home }),
        "ERR_TOKEN_INVALID",
      );
      refused(
        await cli(["verify", "--token", "not-a-jwt"], { home }),
        "ERR_TOKEN_INVALID",
      );
      const json = JSON.parse(
        ok(
          await cli(["verify", "--token", token, "--json"], { home }),
          "verify --json",
        ).stdout,
      );
      assert.equal(json.valid, true);
      assert.equal(json.claims.sub, did);
    });

    await t.step("revoked tokens fail online, still pass offline", async () => {
      ok(await cli(["revoke", "--token", token], { home }), "revoke");
      refused(
        await run(`auth4agent verify --token ${token} --online`),
        "ERR_TOKEN_INACTIVE",
      );
      ok(
        await run(`auth4agent verify --token ${token}`),
        "offline verify cannot know about revocation",
      );
    });

    await t.step(
      "an agent cannot register under an operator of another domain",
      async () => {
        const other = `${dir}/other`;
        ok(
          await cli(["init", "--domain", "other.example", "--server", url], {
            home: other,
          }),
          "init other agent",
        );
        refused(
          await cli(["register", "agent", "--operator-id", operatorId], {
            home: other,
          }),
          "ERR_DOMAIN_MISMATCH",
        );
      },
    );

    await t.step("agents of an unverified operator get no token", async () => {
      const unverified = `${dir}/unverified`;
      const env = { home: unverified };
      ok(
        await cli([
          "init",
          "--operator",
          "--domain",
          "unverified.example",
          "--server",
          url,
        ], env),
        "init",
      );
      const id = JSON.parse(
        ok(await cli(["register", "operator", "--json"], env), "register")
          .stdout,
      ).operator_id;
      ok(
        await cli(
          ["init", "--domain", "unverified.example", "--server", url],
          env,
        ),
        "init agent",
      );
      ok(
        await cli(["register", "agent", "--operator-id", id], env),
        "register agent",
      );
      refused(
        await cli(["agent-scopes", "set", "--scopes", "read:payments"], env),
        "ERR_OPERATOR_NOT_VERIFIED",
      );
      refused(
        await cli(["issue", "--scope", "read:payments"], env),
        "ERR_OPERATOR_NOT_VERIFIED",
      );
    });

    await t.step(
      "usage errors and missing state have their own exit codes",
      async () => {
        const empty = `${dir}/empty`;
        refused(
          await cli(["issue", "--scope", "read:payments"], { home: empty }),
          "ERR_HOME_MISSING",
          3,
        );
        const usage = await cli(["issue", "--no-such-flag"], { home: empty });
        assert.equal(usage.code, 2);
        const bad = await cli([
          "--json",
          "init",
          "--domain",
          "not a domain",
          "--server",
          url,
        ], { home: empty });
        assert.equal(bad.code, 2);
        assert.equal(JSON.parse(bad.stderr).error.code, "ERR_INVALID_DOMAIN");
      },
    );
    await t.step(
      "the server log holds no private key, token or assertion",
      async () => {
        const log = server.log();
        assert.doesNotMatch(log, /PRIVATE KEY/);
        assert.ok(!log.includes(token), "no access token in the log");
        assert.doesNotMatch(
          log,
          /eyJ[\w-]+\.eyJ/,
          "no JWT of any kind in the log",
        );
        for (const key of ["operator", "agent"]) {
          const pem = await Deno.readTextFile(`${home}/keys/${key}.key`);
          const body = pem.split("\n")[1]!;
          assert.ok(!log.includes(body), `no ${key} key material in the log`);
        }
      },
    );
  } finally {
    assert.equal(await server.stop(), 0, "serve exits cleanly on SIGTERM");
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
