/**
 * Federation trust with the real CLI: issuer B federates with issuer A for
 * partner.example (`serve --federation-file`), and A's agent X asks B for a
 * token with `auth4agent issue --peer B` — its token from A for B's
 * audience, traded at B — with no registration at B; within the scopes both
 * hold, bound to X's key with `--dpop`.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  grantedAgent,
  ok,
  refused,
  withIssuerProcess,
  writeFederationFile,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("federation: an agent of issuer A gets issuer B's token with `issue --peer B`, within the scopes A granted it and B grants A's agents", async () => {
  await withIssuerProcess("a4a-peer-a-", async (a) => {
    const { did: x, cli: xCli } = await grantedAgent(
      a,
      "partner.example",
      "read:data,write:data",
    );
    const federationFile = await writeFederationFile(
      `${a.dir}/federation.json`,
      [{
        issuer: a.server.issuer,
        domains: ["partner.example"],
        scopes: ["read:data", "read:reports"],
      }],
    );

    await withIssuerProcess("a4a-peer-b-", async (b) => {
      // Without --scope: all that both A's token and the file hold.
      const token = ok(
        await xCli("issue", "--peer", b.url, "--aud", "api.example.com"),
        "X's token from B",
      ).stdout.trim();
      const claims = jose.decodeJwt(token);
      assert.equal(claims.iss, b.server.issuer);
      assert.equal(claims.sub, x);
      assert.equal(claims.client_id, x);
      assert.equal(claims.aud, "api.example.com");
      assert.equal(claims.scope, "read:data");
      assert.equal((claims.federation as { iss: string }).iss, a.server.issuer);
      ok(
        await cli([
          "verify",
          "--token",
          token,
          "--aud",
          "api.example.com",
          "--scope",
          "read:data",
          "--server",
          b.url,
        ], { home: `${b.dir}/nobody` }),
        "B's token verifies against B's keys",
      );
      refused(
        await cli([
          "verify",
          "--token",
          token,
          "--no-federated",
          "--server",
          b.url,
        ], { home: `${b.dir}/nobody` }),
        "ERR_TOKEN_FEDERATED",
      );

      // A scope A granted but B does not grant A's agents, and one B grants
      // but A did not: deny by default, both ways, each naming who refused.
      const notHere = await xCli(
        "issue",
        "--peer",
        b.url,
        "--scope",
        "write:data",
      );
      refused(notHere, "ERR_SCOPE_NOT_GRANTED");
      assert.match(notHere.stderr, new RegExp(`the peer ${b.url}: scope`));
      const notThere = await xCli(
        "issue",
        "--peer",
        b.url,
        "--scope",
        "read:reports",
      );
      refused(notThere, "ERR_SCOPE_NOT_GRANTED");
      assert.match(notThere.stderr, new RegExp(`your issuer ${a.url}: scope`));

      // Revoking B's token from X's home would ask A, which answers 200 for
      // tokens it does not know: refused instead.
      const revoking = await xCli("revoke", "token", "--token", token);
      refused(revoking, "ERR_USAGE", 2);
      assert.match(revoking.stderr, /it is revoked at http:\/\/localhost/);

      // Bound to X's key: A's token and B's, and the trade proves the key.
      const bound = JSON.parse(
        ok(
          await xCli("issue", "--peer", b.url, "--dpop", "--json"),
          "a bound token from B",
        ).stdout,
      );
      assert.equal(bound.token_type, "DPoP");
      const boundClaims = jose.decodeJwt(bound.access_token);
      const did = JSON.parse(ok(await xCli("did", "show"), "did").stdout);
      const jwk = did.verificationMethod[0].publicKeyJwk;
      assert.deepEqual(boundClaims.cnf, {
        jkt: await jose.calculateJwkThumbprint(jwk),
      });

      // An issuer with no federation is told apart before A is asked.
      refused(await xCli("issue", "--peer", a.url), "ERR_USAGE", 2);

      // The CLI keeps a bearer credential off plain http to other hosts.
      refused(
        await xCli("issue", "--peer", "http://auth.partner.example"),
        "ERR_USAGE",
        2,
      );
    }, ["--federation-file", federationFile]);
  });
});
