/**
 * Registration as a newcomer meets it: a home whose server URL is not the
 * issuer's identifier (127.0.0.1 for localhost) is told so at `register` and
 * `set-server`, not at the first token; `register agent` in a home that
 * holds the operator takes its id without --operator-id, and its hint names
 * the agent to grant.
 */
import assert from "node:assert/strict";
import {
  ok,
  refused,
  verifiedOperator,
  withIssuerProcess,
} from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

Deno.test("register: the issuer's identifier is checked first; register agent defaults to this home's operator", async () => {
  await withIssuerProcess("a4a-register-", async ({ dir, dns, server }) => {
    const byAddress = `http://127.0.0.1:${server.port}`;
    assert.equal(server.issuer, `http://localhost:${server.port}`);
    const wrong = `${dir}/wrong`;
    ok(
      await cli([
        "init",
        "--operator",
        "--domain",
        "example.com",
        "--server",
        byAddress,
      ], { home: wrong }),
      "init",
    );
    const refusal = await cli(["register", "operator"], { home: wrong });
    refused(refusal, "ERR_ISSUER_RESPONSE", 4);
    assert.match(refusal.stderr, new RegExp(server.issuer));
    refused(
      await cli(["set-server", "--url", byAddress], { home: wrong }),
      "ERR_ISSUER_RESPONSE",
      4,
    );
    ok(
      await cli(["set-server", "--url", server.issuer], { home: wrong }),
      "set-server to the issuer's own URL",
    );

    const home = `${dir}/home`;
    const operatorId = await verifiedOperator(
      home,
      "example.com",
      server.issuer,
      dns,
    );
    const initAgent = async (home: string) =>
      ok(
        await cli(
          ["init", "--domain", "example.com", "--server", server.issuer],
          { home },
        ),
        "init agent",
      );
    await initAgent(home);
    const registered = ok(
      await cli(["register", "agent"], { home }),
      "register agent without --operator-id",
    );
    const did = JSON.parse(await Deno.readTextFile(`${home}/agent.json`)).did;
    assert.match(registered.stdout, new RegExp(`under operator ${operatorId}`));
    assert.match(
      registered.stdout,
      new RegExp(`agent-scopes set --agent ${did} --scopes`),
    );
    const agentOnly = `${dir}/agent-only`;
    await initAgent(agentOnly);
    refused(
      await cli(["register", "agent"], { home: agentOnly }),
      "ERR_USAGE",
      2,
    );
  });
});
