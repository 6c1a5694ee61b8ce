/**
 * DPoP (RFC 9449) end to end, with the real CLI and server: `issue --dpop`
 * binds a token to the agent's key (token_type DPoP, `cnf.jkt` the RFC 7638
 * thumbprint of that key), `dpop-proof` signs one request, and `verify
 * --dpop` takes the bound token only with a proof for that request, by that
 * key, naming that token — with the refusals each must make, and the
 * delegation case (no DPoP for `--delegate-to`; the actor may bind its own).
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

const AUD = "api.example.com";
const URL_DATA = "https://api.example.com/data";

/** One part of a compact JWS, decoded (no signature check). */
function jwsPart(jws: string, part: 0 | 1): Record<string, unknown> {
  return JSON.parse(
    new TextDecoder().decode(jose.base64url.decode(jws.split(".")[part]!)),
  );
}

Deno.test("CLI DPoP: issue --dpop, dpop-proof, verify --dpop and its refusals", async (t) => {
  await withIssuerProcess("a4a-dpop-", async ({ dir, dns, url }) => {
    const ops = `${dir}/ops`; // the operator and its own agent
    const helper = `${dir}/helper`; // a second agent of the same domain
    const opsCli = (...args: string[]) => cli(args, { home: ops });
    const helperCli = (...args: string[]) => cli(args, { home: helper });
    const operatorId = await verifiedOperator(ops, "example.com", url, dns);
    const agentDid = await registeredAgent(ops, "example.com", url, operatorId);
    const helperDid = await registeredAgent(
      helper,
      "example.com",
      url,
      operatorId,
    );
    ok(
      await opsCli("agent-scopes", "set", "--scopes", "read:data"),
      "grant the agent",
    );
    ok(
      await opsCli(
        "agent-scopes",
        "set",
        "--scopes",
        "read:data",
        "--agent",
        helperDid,
      ),
      "grant the helper",
    );

    // The agent's public key as the issuer publishes it, and its RFC 7638
    // thumbprint: what a bound token must name. (`whoami` shows only a
    // short `SHA256:` hex fingerprint, not this thumbprint.)
    const document = JSON.parse(
      ok(await opsCli("did", "show"), "did show").stdout,
    );
    const publicJwk = document.verificationMethod[0].publicKeyJwk;
    assert.equal(publicJwk.kty, "OKP");
    assert.equal(publicJwk.crv, "Ed25519");
    const thumbprint = await jose.calculateJwkThumbprint(publicJwk, "sha256");

    let token = "";
    await t.step(
      "issue --dpop: token_type DPoP, cnf.jkt the agent's key thumbprint",
      async () => {
        const issued = JSON.parse(
          ok(
            await opsCli("issue", "--dpop", "--aud", AUD, "--json"),
            "issue --dpop",
          ).stdout,
        );
        assert.equal(issued.token_type, "DPoP");
        token = issued.access_token;
        const claims = jwsPart(token, 1);
        assert.equal(claims.sub, agentDid);
        assert.deepEqual(claims.cnf, { jkt: thumbprint });
      },
    );

    await t.step(
      "dpop-proof signs one request with the agent's key",
      async () => {
        const proof = ok(
          await opsCli(
            "dpop-proof",
            "--method",
            "GET",
            "--url",
            URL_DATA,
            "--token",
            token,
          ),
          "dpop-proof",
        ).stdout.trim();
        const header = jwsPart(proof, 0);
        assert.equal(header.typ, "dpop+jwt");
        assert.equal(
          await jose.calculateJwkThumbprint(header.jwk as jose.JWK, "sha256"),
          thumbprint,
        );
        const payload = jwsPart(proof, 1);
        assert.equal(payload.htm, "GET");
        assert.equal(payload.htu, URL_DATA);
        assert.equal(typeof payload.ath, "string");
        assert.equal(typeof payload.jti, "string");
        // --json prints it as { dpop }.
        const json = JSON.parse(
          ok(
            await opsCli("dpop-proof", "--url", URL_DATA, "--json"),
            "dpop-proof --json",
          ).stdout,
        );
        assert.equal(typeof json.dpop, "string");
        assert.equal(jwsPart(json.dpop, 1).ath, undefined); // no --token, no ath
      },
    );

    /** A fresh proof by `home`'s agent for the bound token. */
    const proofFor = async (
      run: typeof opsCli,
      method = "GET",
      target = URL_DATA,
      ...extra: string[]
    ) =>
      ok(
        await run(
          "dpop-proof",
          "--method",
          method,
          "--url",
          target,
          ...extra,
        ),
        "dpop-proof",
      ).stdout.trim();

    /** `verify` of the bound token, from the helper's home (a resource server), with a proof. */
    const verifyWith = (
      proof: string,
      method = "GET",
      target = URL_DATA,
      ...extra: string[]
    ) =>
      helperCli(
        "verify",
        "--token",
        token,
        "--aud",
        AUD,
        "--dpop",
        proof,
        "--method",
        method,
        "--url",
        target,
        ...extra,
      );

    await t.step(
      "verify --dpop with the request's proof: valid, shows the binding",
      async () => {
        // Verified from the helper's home: a resource server that knows the issuer.
        const human = ok(
          await verifyWith(
            await proofFor(opsCli, "GET", URL_DATA, "--token", token),
          ),
          "verify --dpop",
        ).stdout;
        assert.match(human, new RegExp(`valid: ${agentDid}`));
        assert.match(human, new RegExp(`bound: DPoP key ${thumbprint}`));
        const json = JSON.parse(
          ok(
            await verifyWith(
              await proofFor(opsCli, "GET", URL_DATA, "--token", token),
              "GET",
              URL_DATA,
              "--json",
            ),
            "verify --dpop --json",
          ).stdout,
        );
        assert.equal(json.valid, true);
        assert.deepEqual(json.claims.cnf, { jkt: thumbprint });
        // Not asserted: each `verify` is its own process, and the proofs it has
        // seen (SeenProofs) live in memory only, so the same proof passes a
        // second `verify` within its 60 s. A shell resource server calling the
        // CLI per request gets no replay protection from it.
      },
    );

    await t.step(
      "verify --dpop refuses a proof for another request, token or key",
      async () => {
        const proof = await proofFor(opsCli, "GET", URL_DATA, "--token", token);
        refused(
          await verifyWith(proof, "GET", "https://api.example.com/other"),
          "ERR_DPOP_PROOF_INVALID",
        );
        refused(
          await verifyWith(proof, "POST", URL_DATA),
          "ERR_DPOP_PROOF_INVALID",
        );
        // Under --json the error is JSON on stderr, with the same code and exit.
        const json = await verifyWith(proof, "POST", URL_DATA, "--json");
        assert.equal(json.code, 1, json.stderr);
        assert.equal(json.stdout, "");
        assert.equal(
          JSON.parse(json.stderr).error.code,
          "ERR_DPOP_PROOF_INVALID",
        );
        // A proof that names no token (no ath), or signed by another agent's key.
        refused(
          await verifyWith(await proofFor(opsCli), "GET", URL_DATA),
          "ERR_DPOP_PROOF_INVALID",
        );
        refused(
          await verifyWith(await proofFor(helperCli), "GET", URL_DATA),
          "ERR_DPOP_PROOF_INVALID",
        );
        // dpop-proof itself will not sign for a token bound to another key.
        refused(
          await helperCli(
            "dpop-proof",
            "--url",
            URL_DATA,
            "--token",
            token,
          ),
          "ERR_USAGE",
          2,
        );
      },
    );

    await t.step(
      "verify: a bound token without --dpop is refused; --dpop needs --url",
      async () => {
        refused(
          await helperCli("verify", "--token", token, "--aud", AUD),
          "ERR_TOKEN_INVALID",
        );
        refused(
          await helperCli(
            "verify",
            "--token",
            token,
            "--aud",
            AUD,
            "--dpop",
            await proofFor(opsCli, "GET", URL_DATA, "--token", token),
            "--method",
            "GET",
          ),
          "ERR_USAGE",
          2,
        );
      },
    );

    await t.step(
      "verify --dpop refuses a token issued without --dpop",
      async () => {
        const bearer = JSON.parse(
          ok(await opsCli("issue", "--aud", AUD, "--json"), "issue").stdout,
        );
        assert.equal(bearer.token_type, "Bearer");
        assert.equal(jwsPart(bearer.access_token, 1).cnf, undefined);
        refused(
          await helperCli(
            "verify",
            "--token",
            bearer.access_token,
            "--aud",
            AUD,
            "--dpop",
            await proofFor(opsCli, "GET", URL_DATA),
            "--method",
            "GET",
            "--url",
            URL_DATA,
          ),
          "ERR_TOKEN_INVALID",
        );
      },
    );

    await t.step(
      "issue --dpop --delegate-to is refused; the actor may bind its exchanged token",
      async () => {
        // Refused before any request: the named agent does not hold our key.
        refused(
          await opsCli("issue", "--dpop", "--delegate-to", helperDid),
          "ERR_USAGE",
          2,
        );
        // Without --dpop the same delegation is made; the agent it names may
        // bind the token it trades it for to its own key.
        const delegation = ok(
          await opsCli("issue", "--delegate-to", helperDid),
          "issue --delegate-to",
        ).stdout.trim();
        const exchanged = JSON.parse(
          ok(
            await helperCli(
              "issue",
              "--dpop",
              "--subject-token",
              delegation,
              "--aud",
              AUD,
              "--json",
            ),
            "issue --dpop --subject-token",
          ).stdout,
        );
        assert.equal(exchanged.token_type, "DPoP");
        const actorToken = exchanged.access_token as string;
        /** `verify` of the actor's token with this proof. */
        const verifyActor = (proof: string) =>
          opsCli(
            "verify",
            "--token",
            actorToken,
            "--aud",
            AUD,
            "--dpop",
            proof,
            "--url",
            URL_DATA,
          );
        const verified = ok(
          await verifyActor(
            await proofFor(helperCli, "GET", URL_DATA, "--token", actorToken),
          ),
          "verify actor",
        ).stdout;
        assert.match(verified, new RegExp(`actor: ${helperDid}`));
        assert.doesNotMatch(
          verified,
          new RegExp(`bound: DPoP key ${thumbprint}`),
        );
        // The subject's key is not the one the actor's token is bound to:
        // dpop-proof says so, and a proof by it (naming no token) is refused.
        refused(
          await opsCli(
            "dpop-proof",
            "--url",
            URL_DATA,
            "--token",
            actorToken,
          ),
          "ERR_USAGE",
          2,
        );
        refused(
          await verifyActor(await proofFor(opsCli)),
          "ERR_DPOP_PROOF_INVALID",
        );
      },
    );

    await t.step(
      "dpop-proof and verify refuse a URL that is not http(s), and request flags without a proof",
      async () => {
        refused(await opsCli("dpop-proof", "--url", "ftp://x"), "ERR_USAGE", 2);
        const bearer = ok(await opsCli("issue", "--aud", AUD), "issue").stdout
          .trim();
        // A proof for an unbound token could only be refused.
        refused(
          await opsCli("dpop-proof", "--url", URL_DATA, "--token", bearer),
          "ERR_USAGE",
          2,
        );
        for (
          const flags of [
            ["--dpop", "x.y.z", "--url", "ftp://x"],
            ["--dpop", "x.y.z", "--url", URL_DATA, "--method", "GE T"],
            ["--url", URL_DATA],
            ["--method", "POST"],
          ]
        ) {
          refused(
            await opsCli("verify", "--token", bearer, "--aud", AUD, ...flags),
            "ERR_USAGE",
            2,
          );
        }
        refused(
          await opsCli("dpop-proof", "--url", URL_DATA, "--method", "GE T"),
          "ERR_USAGE",
          2,
        );
      },
    );
  });
});
