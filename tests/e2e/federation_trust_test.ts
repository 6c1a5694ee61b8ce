/**
 * Federation trust with two real issuer processes, the grant spoken as any
 * client would (a form POST to B's token endpoint, no CLI of ours): B trusts
 * A for partner.example (`serve --federation-file`), A's agent X trades a
 * token of A meant for B for B's token, which B's resource servers take
 * offline and by introspection; a token X revoked at A is refused at B, as
 * A's status list says.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  grantedAgent,
  ok,
  verifiedOperator,
  withIssuerProcess,
  writeFederationFile,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

const JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer";

Deno.test("federation trust: A's agent trades A's token at B (serve --federation-file); a token revoked at A is refused at B", async () => {
  await withIssuerProcess("a4a-trust-a-", async (a) => {
    // An operator of A with its agent X.
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
        scopes: ["read:data"],
      }],
    );

    await withIssuerProcess("a4a-trust-b-", async (b) => {
      assert.match(
        b.server.log(),
        new RegExp(`"federation_peers":\\["${a.server.issuer}"\\]`),
      );
      const metadata = await (await fetch(
        `${b.url}/.well-known/oauth-authorization-server`,
      )).json();
      assert.ok(metadata.grant_types_supported.includes(JWT_BEARER));
      const trade = async (assertion: string) => {
        const response = await fetch(metadata.token_endpoint, {
          method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }),
        });
        return { status: response.status, body: await response.json() };
      };
      const fromA = async () =>
        ok(await xCli("issue", "--aud", b.server.issuer), "X's token from A")
          .stdout.trim();

      const kept = await fromA();
      const revoked = await fromA();
      ok(
        await xCli("revoke", "token", "--token", revoked),
        "X revokes one at A",
      );
      // B reads A's status list: the revoked one is not traded.
      const refused = await trade(revoked);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error, "invalid_grant");
      assert.equal(refused.body.error_code, "ERR_FEDERATED_TOKEN_INVALID");
      assert.match(refused.body.error_description, /revoked/);

      const traded = await trade(kept);
      assert.equal(traded.status, 200, JSON.stringify(traded.body));
      assert.equal(traded.body.token_type, "Bearer");
      assert.equal(traded.body.scope, "read:data");
      const atB = traded.body.access_token as string;
      const claims = jose.decodeJwt(atB);
      assert.equal(claims.iss, b.server.issuer);
      assert.equal(claims.aud, b.server.issuer);
      assert.equal(claims.sub, x);
      assert.equal(claims.client_id, x);
      assert.equal(claims.scope, "read:data");
      assert.equal((claims.federation as { iss: string }).iss, a.server.issuer);
      assert.ok(claims.exp! <= jose.decodeJwt(kept).exp!);

      // A resource server of B's (an operator verified there) takes it:
      // against B's keys, B's status list, and B's introspection.
      const api = `${b.dir}/api`;
      await verifiedOperator(api, "api.example.com", b.url, b.dns);
      ok(
        await cli([
          "verify",
          "--token",
          atB,
          "--aud",
          b.server.issuer,
          "--scope",
          "read:data",
          "--status",
          "--online",
          "--server",
          b.url,
        ], { home: api }),
        "B's token verifies, and B says it is active",
      );
      // Nothing of X is registered at B.
      const atBAgent = await fetch(`${b.url}/v1/agents/${x}`);
      assert.equal(atBAgent.status, 404);
      await atBAgent.body?.cancel();
    }, ["--federation-file", federationFile]);
  });
});
