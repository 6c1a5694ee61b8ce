/**
 * Delegation end to end, as two agents in their own home folders would do it
 * with the real CLI and server: the subject issues a token that names the
 * actor (`issue --delegate-to`), the actor trades it for a token to act for
 * the subject (`issue --subject-token`, RFC 8693), a resource server's
 * `verify` sees who acts for whom, and the subject's revocation ends it, as
 * introspection and the status list (`verify --status`) both say.
 */
import assert from "node:assert/strict";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("CLI delegation: --delegate-to, --subject-token, verify shows the actor, revocation reaches it", async () => {
  await withIssuerProcess("a4a-deleg-", async ({ dir, dns, url }) => {
    const ops = `${dir}/ops`; // the operator and its own agent: the subject
    const helper = `${dir}/helper`; // a second agent: the actor
    const opsCli = (...args: string[]) => cli(args, { home: ops });
    const helperCli = (...args: string[]) => cli(args, { home: helper });
    const operatorId = await verifiedOperator(ops, "example.com", url, dns);
    const subjectDid = await registeredAgent(
      ops,
      "example.com",
      url,
      operatorId,
    );
    const actorDid = await registeredAgent(
      helper,
      "example.com",
      url,
      operatorId,
    );
    ok(
      await opsCli(
        "agent-scopes",
        "set",
        "--scopes",
        "read:payments,write:payments",
      ),
      "grant the subject",
    );
    ok(
      await opsCli(
        "agent-scopes",
        "set",
        "--scopes",
        "read:payments",
        "--agent",
        actorDid,
      ),
      "grant the actor",
    );

    // A delegation is for the issuer alone: the actor names the audience.
    refused(
      await opsCli(
        "issue",
        "--delegate-to",
        actorDid,
        "--aud",
        "api.example.com",
      ),
      "ERR_USAGE",
      2,
    );
    const delegation = ok(
      await opsCli(
        "issue",
        "--scope",
        "read:payments",
        "--delegate-to",
        actorDid,
      ),
      "delegate",
    ).stdout.trim();

    // The actor's own grant bounds it: write:payments is the subject's only.
    refused(
      await helperCli(
        "issue",
        "--subject-token",
        delegation,
        "--scope",
        "write:payments",
      ),
      "ERR_SCOPE_NOT_GRANTED",
    );
    const exchanged = JSON.parse(
      ok(
        await helperCli(
          "issue",
          "--subject-token",
          delegation,
          "--aud",
          "api.example.com",
          "--json",
        ),
        "exchange",
      ).stdout,
    );
    assert.equal(
      exchanged.issued_token_type,
      "urn:ietf:params:oauth:token-type:access_token",
    );
    assert.equal(exchanged.scope, "read:payments");
    const token = exchanged.access_token as string;

    // A resource server (any home that knows the issuer) sees who acts for whom.
    const verified = ok(
      await opsCli("verify", "--token", token, "--aud", "api.example.com"),
      "verify",
    ).stdout;
    assert.match(verified, new RegExp(`valid: ${subjectDid}`));
    assert.match(verified, new RegExp(`actor: ${actorDid}`));
    const claims = JSON.parse(
      ok(
        await opsCli("verify", "--token", token, "--online", "--json"),
        "verify online",
      ).stdout,
    ).claims;
    assert.deepEqual(claims.act, { sub: actorDid });
    assert.equal(claims.client_id, actorDid);

    // Another agent cannot use a delegation that names the helper.
    refused(
      await opsCli("issue", "--subject-token", delegation),
      "ERR_NOT_DELEGATED",
    );

    // Offline with the status list: valid before any revocation.
    assert.match(
      ok(
        await opsCli("verify", "--token", token, "--status"),
        "verify --status",
      ).stdout,
      /valid \(status list checked\)/,
    );

    // The subject revokes its delegation: the actor's token is revoked with it,
    // and its bit is set in the status list verifiers fetch.
    ok(await opsCli("revoke", "token", "--token", delegation), "revoke");
    // A revocation rebuilds a list once the list is a second old.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    refused(
      await opsCli("verify", "--token", token, "--status"),
      "ERR_TOKEN_INACTIVE",
    );
    refused(
      await opsCli("verify", "--token", token, "--online"),
      "ERR_TOKEN_INACTIVE",
    );
    refused(
      await helperCli("issue", "--subject-token", delegation),
      "ERR_SUBJECT_TOKEN_INVALID",
    );
    // The operator's revocation list names whom the revoked token acted for.
    assert.match(
      ok(await opsCli("revoke", "list"), "revoke list").stdout,
      new RegExp(`of ${actorDid} for ${subjectDid}`),
    );
  });
});
