/**
 * The rest of the CLI, end to end: health, whoami, verify-operator status,
 * agent-scopes list, set-server, and the agent lifecycle — token revocation,
 * suspension, reactivation, permanent revocation, and the revocation list —
 * with the refusals each must make.
 */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { Home } from "../../src/home/home.ts";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("CLI lifecycle: health, whoami, status views, set-server, revoke, suspend, reactivate", async (t) => {
  await withIssuerProcess("a4a-life-", async ({ dir, dns, url, server }) => {
    const ops = `${dir}/ops`; // operator of example.com with its own agent, as in the seed
    const worker = `${dir}/worker`; // a second agent of example.com, in its own home
    const rival = `${dir}/rival`; // the operator of another domain
    const as = (home: string) => (...args: string[]) => cli(args, { home });
    const opsCli = as(ops), workerCli = as(worker), rivalCli = as(rival);
    const issue = (run: typeof opsCli) =>
      run("issue", "--scope", "read:payments", "--aud", "api.example.com");
    const operatorId = await verifiedOperator(ops, "example.com", url, dns);
    await registeredAgent(ops, "example.com", url, operatorId);
    const workerDid = await registeredAgent(
      worker,
      "example.com",
      url,
      operatorId,
    );
    ok(
      await opsCli("agent-scopes", "set", "--scopes", "read:payments"),
      "grant own agent",
    );
    ok(
      await opsCli(
        "agent-scopes",
        "set",
        "--scopes",
        "read:payments,write:payments",
        "--agent",
        workerDid,
      ),
      "grant worker",
    );
    await verifiedOperator(rival, "rival.example", url, dns);

    await t.step(
      "health reports status, version, database and clock skew",
      async () => {
        const health = JSON.parse(
          ok(await opsCli("health", "--json"), "health").stdout,
        );
        assert.equal(health.status, "ok");
        assert.equal(health.database, "ok");
        assert.equal(typeof health.version, "string");
        assert.ok(Math.abs(health.clock_skew_ms) < 5_000);
        const down = await cli(["health", "--server", "http://127.0.0.1:9"], {
          home: `${dir}/none`,
        });
        assert.equal(down.code, 4, down.stderr);
        assert.match(down.stderr, /ERR_ISSUER_UNREACHABLE/);
      },
    );

    await t.step(
      "whoami shows both identities as the issuer sees them",
      async () => {
        const me = JSON.parse(
          ok(await opsCli("whoami", "--json"), "whoami").stdout,
        );
        assert.deepEqual(me.modes, ["operator", "agent"]);
        assert.equal(me.operator.operator_id, operatorId);
        assert.equal(me.operator.issuer_view.verified, true);
        assert.match(me.operator.key_fingerprint, /^SHA256:[0-9a-f]{32}$/);
        assert.equal(me.agent.issuer_view.status, "active");
        const human = ok(await opsCli("whoami"), "whoami").stdout;
        assert.match(human, /verified/);
      },
    );

    await t.step("verify-operator status and agent-scopes list", async () => {
      const status = JSON.parse(
        ok(await opsCli("verify-operator", "status", "--json"), "status")
          .stdout,
      );
      assert.equal(status.verified, true);
      assert.equal(status.dns_record.name, "_auth4agent-challenge.example.com");
      const grant = JSON.parse(
        ok(
          await opsCli("agent-scopes", "list", "--agent", workerDid, "--json"),
          "list",
        ).stdout,
      );
      assert.deepEqual(grant.scopes, ["read:payments", "write:payments"]);
      // The agent may read its own grant too.
      assert.deepEqual(
        JSON.parse(
          ok(await workerCli("agent-scopes", "list", "--json"), "own").stdout,
        ).scopes,
        grant.scopes,
      );
      refused(
        await rivalCli("agent-scopes", "list", "--agent", workerDid),
        "ERR_FORBIDDEN",
      );
    });

    await t.step(
      "set-server checks health first and keeps the files on failure",
      async () => {
        const before = await Deno.readTextFile(`${worker}/agent.json`);
        const down = await workerCli(
          "set-server",
          "--url",
          "http://127.0.0.1:9",
        );
        assert.equal(down.code, 4);
        assert.equal(await Deno.readTextFile(`${worker}/agent.json`), before);
        const moved = JSON.parse(
          ok(
            await workerCli("set-server", "--url", server.issuer, "--json"),
            "set-server",
          ).stdout,
        );
        assert.deepEqual(moved.updated, ["agent.json"]);
        assert.equal(
          JSON.parse(await Deno.readTextFile(`${worker}/agent.json`)).server,
          server.issuer,
        );
      },
    );

    await t.step(
      "revoke token: by its agent and by the operator, never by another operator",
      async () => {
        const own = ok(await issue(workerCli), "issue").stdout.trim();
        refused(
          await rivalCli("revoke", "token", "--token", own),
          "ERR_NOT_TOKEN_HOLDER",
        );
        ok(
          await workerCli("verify", "--token", own, "--online"),
          "still active",
        );
        ok(
          await workerCli(
            "revoke",
            "token",
            "--token",
            own,
            "--reason",
            "rotating",
          ),
          "agent revokes",
        );
        refused(
          await workerCli("verify", "--token", own, "--online"),
          "ERR_TOKEN_INACTIVE",
        );
        const second = ok(await issue(workerCli), "issue").stdout.trim();
        ok(
          await opsCli(
            "revoke",
            "token",
            "--token",
            second,
            "--reason",
            "leaked",
          ),
          "operator revokes",
        );
        refused(
          await workerCli("verify", "--token", second, "--online"),
          "ERR_TOKEN_INACTIVE",
        );
      },
    );

    await t.step(
      "suspend: live tokens inactive at once, no new ones; reactivate: only new tokens work",
      async () => {
        const live = ok(await issue(workerCli), "issue").stdout.trim();
        refused(
          await rivalCli("revoke", "suspend", "--agent-id", workerDid),
          "ERR_FORBIDDEN",
        );
        refused(
          await workerCli("revoke", "suspend", "--agent-id", workerDid),
          "ERR_HOME_MISSING",
          3,
        );
        const suspended = JSON.parse(
          ok(
            await opsCli(
              "revoke",
              "suspend",
              "--agent-id",
              workerDid,
              "--reason",
              "anomaly",
              "--json",
            ),
            "suspend",
          ).stdout,
        );
        assert.equal(suspended.status, "suspended");
        assert.equal(suspended.tokens_revoked, 1);
        refused(
          await opsCli("verify", "--token", live, "--online"),
          "ERR_TOKEN_INACTIVE",
        );
        const denied = await issue(workerCli);
        refused(denied, "ERR_AGENT_SUSPENDED");
        assert.equal(denied.stderr.trim().split("\n").length, 1, "one line");
        ok(
          await opsCli("revoke", "reactivate", "--agent-id", workerDid),
          "reactivate",
        );
        refused(
          await opsCli("verify", "--token", live, "--online"),
          "ERR_TOKEN_INACTIVE",
        );
        const fresh = ok(await issue(workerCli), "issue after reactivation")
          .stdout.trim();
        ok(
          await opsCli("verify", "--token", fresh, "--online"),
          "new token active",
        );
      },
    );

    await t.step("an agent cannot act on itself with its own key", async () => {
      const home = new Home(worker);
      const key = await home.readKey("agent");
      const client = new IssuerClient(url);
      await assert.rejects(
        client.changeAgentStatus(workerDid, "reactivate", undefined, {
          privateKey: key.privateKey,
          kid: workerDid,
        }),
        (error) =>
          error instanceof Auth4AgentError && error.code === "ERR_FORBIDDEN",
      );
    });

    await t.step(
      "revoke agent: permanent, and the DID cannot register again",
      async () => {
        const live = ok(await issue(workerCli), "issue").stdout.trim();
        ok(
          await opsCli(
            "revoke",
            "agent",
            "--id",
            workerDid,
            "--reason",
            "decommissioned",
          ),
          "revoke agent",
        );
        refused(
          await opsCli("verify", "--token", live, "--online"),
          "ERR_TOKEN_INACTIVE",
        );
        refused(await issue(workerCli), "ERR_AGENT_REVOKED");
        refused(
          await opsCli("revoke", "reactivate", "--agent-id", workerDid),
          "ERR_AGENT_REVOKED",
        );
        refused(
          await workerCli("register", "agent", "--operator-id", operatorId),
          "ERR_AGENT_REVOKED",
        );
      },
    );

    await t.step(
      "revoke list: agents and tokens with who, when and why",
      async () => {
        const list = JSON.parse(
          ok(await opsCli("revoke", "list", "--json"), "list").stdout,
        );
        assert.equal(list.domain, "example.com");
        const agent = list.agents.find((a: { did: string }) =>
          a.did === workerDid
        );
        assert.equal(agent.status, "revoked");
        assert.equal(agent.status_changed_by, operatorId);
        assert.equal(agent.reason, "decommissioned");
        const reasons = list.tokens.map((token: { reason: string }) =>
          token.reason
        );
        assert.ok(
          reasons.includes("rotating") && reasons.includes("leaked"),
          JSON.stringify(reasons),
        );
        assert.ok(
          list.tokens.every((token: { revoked_at: string }) =>
            token.revoked_at
          ),
        );
        const rivalList = JSON.parse(
          ok(await rivalCli("revoke", "list", "--json"), "rival list").stdout,
        );
        assert.deepEqual(rivalList.agents, []);
        assert.match(
          ok(await opsCli("revoke", "list"), "human list").stdout,
          /decommissioned/,
        );
      },
    );
  });
});
