/**
 * Client attestation end to end, with the real CLI and server and a fake
 * attester over real HTTP: `serve --client-attester` trusts the attester, the
 * operator's grant asks for its attestation (`agent-scopes set
 * --require-attestation`), and the agent's `issue` is refused without one
 * and served with one (`--attestation-file`): the token says who attested
 * the agent's key, and `verify --attester` asks for that. A scopes-only
 * change keeps the requirement, `--clear-attestation` drops it, and the
 * challenge endpoint answers the draft's empty POST over real HTTP.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { startFakePlatform } from "../helpers/fake_platform.ts";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
  writeFederationFile,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

const AUD = "api.example.com";

Deno.test("CLI client attestation: a grant that asks for one, issue --attestation-file, verify --attester", async () => {
  const attester = await startFakePlatform({ alg: "ES256" });
  try {
    await withIssuerProcess(
      "a4a-attest-",
      async ({ dir, dns, url, server }) => {
        const home = `${dir}/ops`;
        const run = (...args: string[]) => cli(args, { home });
        const operatorId = await verifiedOperator(
          home,
          "example.com",
          url,
          dns,
        );
        const did = await registeredAgent(home, "example.com", url, operatorId);
        const granted = ok(
          await run(
            "agent-scopes",
            "set",
            "--scopes",
            "read:data",
            "--require-attestation",
            attester.issuer,
          ),
          "grant asking for an attestation",
        ).stdout;
        assert.ok(
          granted.includes(`requires attestation by: ${attester.issuer}`),
          granted,
        );

        refused(
          await run("issue", "--aud", AUD),
          "ERR_CLIENT_ATTESTATION_REQUIRED",
        );

        // The agent's key, as anyone reads it: its DID document.
        const didDocument = await (await fetch(
          `${url}/v1/agents/${did}/did.json`,
        )).json();
        const agentJwk = didDocument.verificationMethod[0].publicKeyJwk;
        const attestation = await attester.mint({
          sub: did,
          cnf: { jwk: { kty: "OKP", crv: "Ed25519", x: agentJwk.x } },
        }, { typ: "oauth-client-attestation+jwt" });
        const file = `${dir}/attestation.jwt`;
        await Deno.writeTextFile(file, attestation);
        const issued = JSON.parse(
          ok(
            await run(
              "issue",
              "--aud",
              AUD,
              "--attestation-file",
              file,
              "--json",
            ),
            "issue --attestation-file",
          ).stdout,
        );
        const claims = jose.decodeJwt(issued.access_token);
        assert.equal(
          (claims.attestation as { iss: string }).iss,
          attester.issuer,
        );
        ok(
          await run(
            "verify",
            "--token",
            issued.access_token,
            "--aud",
            AUD,
            "--attester",
            attester.issuer,
          ),
          "verify --attester",
        );
        refused(
          await run(
            "verify",
            "--token",
            issued.access_token,
            "--aud",
            AUD,
            "--attester",
            "https://other.example",
          ),
          "ERR_TOKEN_NOT_ATTESTED",
        );
        assert.ok(server.issuer.startsWith("http://"));

        // At a federation peer: the attestation goes to the agent's own
        // issuer, whose grant asks for it; the peer takes that issuer's word.
        const federationFile = await writeFederationFile(`${dir}/fed.json`, [{
          issuer: server.issuer,
          domains: ["example.com"],
          scopes: ["read:data"],
        }]);
        await withIssuerProcess("a4a-attest-peer-", async (peer) => {
          const atPeer = await run(
            "issue",
            "--peer",
            peer.url,
            "--attestation-file",
            file,
            "--json",
          );
          const traded = JSON.parse(
            ok(atPeer, "issue --peer --attestation-file").stdout,
          );
          assert.equal(
            (jose.decodeJwt(traded.access_token).federation as { iss: string })
              .iss,
            server.issuer,
          );
          const without = await run("issue", "--peer", peer.url);
          refused(without, "ERR_CLIENT_ATTESTATION_REQUIRED");
          assert.match(without.stderr, new RegExp(`your issuer ${url}`));
        }, ["--federation-file", federationFile]);

        // Both flags at once: which one was meant? A usage error.
        refused(
          await run(
            "agent-scopes",
            "set",
            "--scopes",
            "read:data",
            "--clear-attestation",
            "--require-attestation",
            attester.issuer,
          ),
          "ERR_USAGE",
          2,
        );

        // Adding a scope keeps the requirement; only saying so drops it.
        ok(
          await run("agent-scopes", "set", "--scopes", "read:data write:data"),
          "a scopes-only change",
        );
        refused(
          await run("issue", "--aud", AUD),
          "ERR_CLIENT_ATTESTATION_REQUIRED",
        );
        const dropped = ok(
          await run(
            "agent-scopes",
            "set",
            "--scopes",
            "read:data",
            "--clear-attestation",
          ),
          "agent-scopes set --clear-attestation",
        ).stdout;
        assert.ok(!dropped.includes("requires attestation"), dropped);
        ok(await run("issue", "--aud", AUD), "issue, no longer asked");

        // The challenge endpoint over real HTTP: an empty POST, as the
        // draft's clients send it, gets a PoP challenge.
        const challenge = await fetch(`${url}/v1/challenges`, {
          method: "POST",
          headers: { Accept: "application/json" },
        });
        assert.equal(challenge.status, 200);
        assert.equal(challenge.headers.get("Cache-Control"), "no-store");
        const { attestation_challenge } = await challenge.json();
        assert.equal(typeof attestation_challenge, "string");
      },
      ["--client-attester", attester.issuer],
    );
  } finally {
    await attester.close();
  }
});
