/**
 * Workload federation end to end, with the real CLI and server and a fake
 * platform over real HTTP: `serve --workload-issuer` trusts the platform, the
 * operator binds one of its identities to an agent (`workload add | list |
 * remove`), and a workload with an empty home folder trades its platform
 * token for the agent's (`issue --workload-token-file --agent --server`),
 * which `verify` accepts; after `workload remove` it is refused, and the
 * flag's misuses are usage errors (exit 2) before any request.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import type { TestDnsServer } from "../helpers/dns_server.ts";
import {
  type FakePlatform,
  startFakePlatform,
} from "../helpers/fake_platform.ts";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

const AUD = "api.example.com";
const SUBJECT = "system:serviceaccount:payments:worker";

/** A fake platform, and a real issuer process that trusts it. */
async function withFederatedIssuer(
  body: (issuer: {
    dir: string;
    url: string;
    issuer: string;
    dns: TestDnsServer;
    platform: FakePlatform;
  }) => Promise<void>,
): Promise<void> {
  const platform = await startFakePlatform();
  try {
    await withIssuerProcess(
      "a4a-workload-",
      ({ dir, dns, server, url }) =>
        body({ dir, dns, url, issuer: server.issuer, platform }),
      ["--workload-issuer", platform.issuer],
    );
  } finally {
    await platform.close();
  }
}

Deno.test("CLI workload federation: add, list, issue --workload-token-file from an empty home, verify, remove", async () => {
  await withFederatedIssuer(async ({ dir, dns, url, issuer, platform }) => {
    const ops = `${dir}/ops`; // the operator and its agent
    const workload = `${dir}/workload`; // the workload: no identity at all
    await Deno.mkdir(workload);
    const opsCli = (...args: string[]) => cli(args, { home: ops });
    // `--home` given as a user would, over the AUTH4AGENT_HOME cli() sets.
    const workloadCli = (...args: string[]) =>
      cli(["--home", workload, ...args], { home: `${dir}/unused` });

    const operatorId = await verifiedOperator(ops, "example.com", url, dns);
    const did = await registeredAgent(ops, "example.com", url, operatorId);
    ok(
      await opsCli("agent-scopes", "set", "--scopes", "read:data"),
      "grant the agent",
    );

    const added = ok(
      await opsCli(
        "workload",
        "add",
        "--agent",
        did,
        "--issuer",
        platform.issuer,
        "--subject",
        SUBJECT,
      ),
      "workload add",
    ).stdout;
    assert.match(added, new RegExp(`Bound to ${did}`));
    assert.ok(added.includes(`${platform.issuer} ${SUBJECT}`), added);

    const listed = ok(
      await opsCli("workload", "list", "--agent", did),
      "workload list",
    ).stdout;
    assert.ok(listed.includes(`${platform.issuer} ${SUBJECT}`), listed);
    assert.match(listed, new RegExp(`trusted platforms: ${platform.issuer}`));
    const listedJson = JSON.parse(
      ok(
        await opsCli("workload", "list", "--agent", did, "--json"),
        "workload list --json",
      ).stdout,
    );
    assert.deepEqual(listedJson.trusted_issuers, [platform.issuer]);
    assert.equal(listedJson.workload_identities.length, 1);

    // The platform's token for this workload, meant for the issuer.
    const platformToken = await platform.mint({ sub: SUBJECT, aud: issuer });
    const platformExp = jose.decodeJwt(platformToken).exp!;
    const tokenFile = `${dir}/platform-token`;
    await Deno.writeTextFile(tokenFile, `${platformToken}\n`);
    const issueArgs = [
      "issue",
      "--workload-token-file",
      tokenFile,
      "--agent",
      did,
      "--server",
      url,
      "--aud",
      AUD,
      "--json",
    ];
    const issued = JSON.parse(
      ok(await workloadCli(...issueArgs), "issue --workload-token-file")
        .stdout,
    );
    assert.equal(issued.token_type, "Bearer");
    assert.equal(issued.scope, "read:data");
    const claims = jose.decodeJwt(issued.access_token);
    assert.equal(claims.sub, did);
    assert.equal(claims.client_id, did);
    assert.equal(claims.aud, AUD);
    assert.ok(claims.exp! <= platformExp, "ends with the platform token");
    // The workload's home stays without an identity.
    for (const file of ["agent.json", "operator.json"]) {
      await assert.rejects(Deno.stat(`${workload}/${file}`));
    }

    const verified = ok(
      await workloadCli(
        "verify",
        "--token",
        issued.access_token,
        "--aud",
        AUD,
        "--server",
        url,
      ),
      "verify",
    ).stdout;
    assert.match(verified, new RegExp(`valid: ${did}`));

    const remove = () =>
      opsCli(
        "workload",
        "remove",
        "--agent",
        did,
        "--issuer",
        platform.issuer,
        "--subject",
        SUBJECT,
      );
    const removed = ok(
      await remove(),
      "workload remove",
    ).stdout;
    assert.match(removed, new RegExp(`Removed from ${did}`));
    // With --json the error is JSON on stderr; without, `… (CODE)`.
    const unbound = await workloadCli(...issueArgs);
    assert.equal(unbound.code, 1, unbound.stderr);
    assert.equal(
      JSON.parse(unbound.stderr).error.code,
      "ERR_WORKLOAD_NOT_BOUND",
      unbound.stderr,
    );
    refused(
      await workloadCli(...issueArgs.filter((arg) => arg !== "--json")),
      "ERR_WORKLOAD_NOT_BOUND",
    );
    refused(
      await remove(),
      "ERR_WORKLOAD_IDENTITY_NOT_FOUND",
    );

    // Misuses are usage errors, found before any request.
    const usage = await Promise.all([
      workloadCli("issue", "--workload-token-file", tokenFile, "--server", url),
      workloadCli(
        "issue",
        "--workload-token-file",
        tokenFile,
        "--agent",
        did,
        "--server",
        url,
        "--dpop",
      ),
      workloadCli(
        "issue",
        "--workload-token-file",
        `${dir}/no-such-file`,
        "--agent",
        did,
        "--server",
        url,
      ),
      workloadCli("issue", "--agent", did, "--server", url),
      workloadCli(
        "issue",
        "--workload-token-file",
        tokenFile,
        "--agent",
        did,
        "--server",
        "http://auth.example.com",
      ),
    ]);
    const what = [
      "no --agent in an empty home",
      "--dpop",
      "a missing file",
      "--agent without --workload-token-file",
      "a reusable credential over plain http",
    ];
    usage.forEach((result, i) => {
      assert.equal(
        result.code,
        2,
        `${what[i]}: exit ${result.code}: ${result.stderr}`,
      );
      assert.match(result.stderr, /\(ERR_USAGE\)/, `${what[i]}`);
    });
  });
});
