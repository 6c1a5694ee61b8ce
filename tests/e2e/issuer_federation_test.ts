/**
 * Federation between two issuers, through workload federation: issuer B
 * trusts issuer A as a platform (`serve --workload-issuer A`), B's operator
 * binds one of A's agents (its DID, the `sub` of A's tokens) to an agent of
 * its own, and A's agent then trades a token from A, meant for B, for that
 * agent's token at B — with real processes and the real CLI.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  grantedAgent,
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("issuer federation: an agent of issuer A obtains, from a token of A meant for B, the token of the agent B's operator bound it to", async () => {
  await withIssuerProcess("a4a-fed-a-", async (a) => {
    // An operator of A with its agent X.
    const { did: x, cli: partnerCli } = await grantedAgent(
      a,
      "partner.example",
      "read:data",
    );

    await withIssuerProcess("a4a-fed-b-", async (b) => {
      const ops = `${b.dir}/ops`; // an operator of B with its agent Y
      const y = await registeredAgent(
        ops,
        "example.com",
        b.url,
        await verifiedOperator(ops, "example.com", b.url, b.dns),
      );
      const opsCli = (...args: string[]) => cli(args, { home: ops });
      ok(
        await opsCli("agent-scopes", "set", "--scopes", "read:data"),
        "B grants Y",
      );
      ok(
        await opsCli(
          "workload",
          "add",
          "--agent",
          y,
          "--issuer",
          a.server.issuer,
          "--subject",
          x,
        ),
        "B binds A's agent X to Y",
      );

      // X asks A for a token meant for B, and trades it at B: no key of B's.
      const fromA = ok(
        await partnerCli("issue", "--aud", b.server.issuer),
        "X's token from A for B",
      ).stdout.trim();
      const file = `${a.dir}/token-from-a`;
      await Deno.writeTextFile(file, fromA);
      const trade = (...more: string[]) =>
        cli([
          "issue",
          "--workload-token-file",
          file,
          "--agent",
          y,
          "--server",
          b.url,
          ...more,
        ], { home: `${b.dir}/nobody` });
      // Revoked at A first: B reads A's status list and does not trade it.
      const revokedAtA = ok(
        await partnerCli("issue", "--aud", b.server.issuer),
        "a token of A to revoke",
      ).stdout.trim();
      ok(
        await partnerCli("revoke", "token", "--token", revokedAtA),
        "X revokes it at A",
      );
      await Deno.writeTextFile(file, revokedAtA);
      refused(await trade(), "ERR_WORKLOAD_TOKEN_INVALID");
      await Deno.writeTextFile(file, fromA);

      const atB = ok(await trade("--aud", "api.example.com"), "trade at B")
        .stdout.trim();
      const claims = jose.decodeJwt(atB);
      assert.equal(claims.iss, b.server.issuer);
      assert.equal(claims.sub, y);
      assert.ok(claims.exp! <= jose.decodeJwt(fromA).exp!);
      ok(
        await cli([
          "verify",
          "--token",
          atB,
          "--aud",
          "api.example.com",
          "--server",
          b.url,
        ], { home: `${b.dir}/nobody` }),
        "B's token verifies",
      );

      // A token of A for another audience, or bound to X's key, is refused.
      await Deno.writeTextFile(
        file,
        ok(await partnerCli("issue", "--aud", "api.example.com"), "other aud")
          .stdout.trim(),
      );
      refused(await trade(), "ERR_WORKLOAD_TOKEN_INVALID");
      await Deno.writeTextFile(
        file,
        ok(
          await partnerCli("issue", "--aud", b.server.issuer, "--dpop"),
          "bound",
        ).stdout.trim(),
      );
      refused(await trade(), "ERR_WORKLOAD_TOKEN_INVALID");
    }, ["--workload-issuer", a.server.issuer]);
  });
});
