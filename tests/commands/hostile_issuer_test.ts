/**
 * The CLI against a hostile issuer: a server on 127.0.0.1 (port 0) answering
 * what it likes, and the real CLI run as a subprocess. The server's strings
 * reach the terminal with their control characters shown as `\u001b` text,
 * never as escape sequences or line breaks; the server cannot pick a usage,
 * missing-state or other exit code that only the CLI itself may decide; and
 * `register` stores only an operator id and a DID of the right shape.
 */
import assert from "node:assert/strict";
import { openStore } from "../../src/store/open.ts";
import { ok, refused } from "../helpers/identities.ts";
import { cli } from "../helpers/process.ts";

const OPERATOR_ID = "op_" + "0123456789abcdef".repeat(2);

type Answer = (request: Request) => Response;

interface HostileIssuer {
  url: string;
  /** path → answer; `POST /v1/nonce` answers a nonce unless replaced, anything else 404. */
  answers: Map<string, Answer>;
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** An OAuth-style error answer with the given auth4agent code and description. */
function refusal(code: string, description: string, status = 400): Answer {
  return () =>
    json({
      error: "invalid_request",
      error_description: description,
      error_code: code,
    }, status);
}

async function withHostileIssuer(
  work: (issuer: HostileIssuer, dir: string) => Promise<void>,
): Promise<void> {
  const answers = new Map<string, Answer>();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      const answer = answers.get(path) ??
        (path === "/v1/nonce" ? () => json({ nonce: "n".repeat(43) }) : null);
      return answer ? answer(request) : json({ error: "not_found" }, 404);
    },
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  // Well-formed metadata, naming itself: the hostility is elsewhere.
  answers.set("/.well-known/oauth-authorization-server", () =>
    json({
      issuer: url,
      token_endpoint: `${url}/oauth/token`,
      jwks_uri: `${url}/.well-known/jwks.json`,
      introspection_endpoint: `${url}/oauth/introspect`,
      revocation_endpoint: `${url}/oauth/revoke`,
    }));
  const dir = await Deno.makeTempDir({ prefix: "a4a-hostile-" });
  try {
    await work({ url, answers }, dir);
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The control characters (C0, DEL, C1) in `text`, but the line breaks between lines. */
function controls(text: string): string[] {
  return [...text].filter((char) => char !== "\n" && /\p{Cc}/u.test(char));
}

function assertNoControls(text: string, what: string): void {
  assert.deepEqual(controls(text), [], `${what}: ${JSON.stringify(text)}`);
}

Deno.test("health: the issuer's strings are shown with their control characters escaped", async () => {
  await withHostileIssuer(async (issuer, dir) => {
    const status = "ok\u001b]0;pwned\u001b\\\u001b[2J";
    const version = "1.0\r\nclock skew: 0 ms";
    const database = "sqlite\u009b2J\u007f";
    issuer.answers.set(
      "/healthz",
      () => json({ status, version, database, time: new Date().toISOString() }),
    );
    const home = `${dir}/home`;
    const human = await cli(["health", "--server", issuer.url], { home });
    refused(human, "ERR_ISSUER_RESPONSE", 4); // its status is not "ok"
    assertNoControls(human.stdout, "stdout");
    assertNoControls(human.stderr, "stderr");
    assert.equal(
      human.stdout.split("\n")[0],
      `${issuer.url}: ok\\u001b]0;pwned\\u001b\\\\u001b[2J (version 1.0\\u000d\\u000aclock skew: 0 ms, database sqlite\\u009b2J\\u007f)`,
    );
    assert.equal(human.stdout.split("\n").length, 3, human.stdout);

    const data = await cli(["health", "--json", "--server", issuer.url], {
      home,
    });
    assertNoControls(data.stdout, "--json stdout");
    const parsed = JSON.parse(data.stdout);
    assert.deepEqual(
      [parsed.status, parsed.version, parsed.database],
      [status, version, database],
      "--json keeps the data as it came",
    );
  });
});

Deno.test("an issuer's error message is printed with its control characters escaped", async () => {
  await withHostileIssuer(async (issuer, dir) => {
    const did = `did:agent:example.com:${"ab".repeat(16)}`;
    const lie = `\u001b[2K\u001b[1Gvalid: ${did}\n  scope: admin:root`;
    issuer.answers.set(
      `/v1/agents/${did}/did.json`,
      refusal("ERR_AGENT_NOT_FOUND", lie, 404),
    );
    const home = `${dir}/home`;
    const human = await cli(["did", "show", did, "--server", issuer.url], {
      home,
    });
    refused(human, "ERR_AGENT_NOT_FOUND");
    assertNoControls(human.stderr, "stderr");
    assert.equal(
      human.stderr,
      `error: \\u001b[2K\\u001b[1Gvalid: ${did}\\u000a  scope: admin:root (ERR_AGENT_NOT_FOUND)\n`,
    );

    const data = await cli(
      ["did", "show", did, "--json", "--server", issuer.url],
      { home },
    );
    assertNoControls(data.stderr, "--json stderr");
    assert.deepEqual(JSON.parse(data.stderr), {
      error: { code: "ERR_AGENT_NOT_FOUND", message: lie },
    });
  });
});

Deno.test("an issuer's error code sets the exit code only when it is a code issuers send", async () => {
  await withHostileIssuer(async (issuer, dir) => {
    const did = `did:agent:example.com:${"cd".repeat(16)}`;
    const home = `${dir}/home`;
    const cases: [code: string, status: number, exit: number, shown: string][] =
      [
        // Codes an issuer sends: their documented exit codes (src/core/errors.ts).
        ["ERR_AGENT_NOT_FOUND", 404, 1, "ERR_AGENT_NOT_FOUND"],
        ["ERR_INVALID_DID", 400, 2, "ERR_INVALID_DID"],
        ["ERR_DNS_LOOKUP_FAILED", 503, 4, "ERR_DNS_LOOKUP_FAILED"],
        ["ERR_INTERNAL", 500, 70, "ERR_INTERNAL"],
        // Codes only the CLI raises (docs/api.md, "_client_"), and ERR_CONFIG,
        // which stops `serve` before it answers: an answer the CLI cannot use.
        ["ERR_USAGE", 400, 4, "ERR_ISSUER_RESPONSE"],
        ["ERR_HOME_MISSING", 400, 4, "ERR_ISSUER_RESPONSE"],
        ["ERR_KEY_PERMISSIONS", 400, 4, "ERR_ISSUER_RESPONSE"],
        ["ERR_CONFIG", 500, 4, "ERR_ISSUER_RESPONSE"],
        ["ERR_TOKEN_INACTIVE", 401, 4, "ERR_ISSUER_RESPONSE"],
        ["ERR_ISSUER_UNREACHABLE", 503, 4, "ERR_ISSUER_RESPONSE"],
        // A code nobody knows, as before.
        ["ERR_NO_SUCH_CODE", 400, 4, "ERR_ISSUER_RESPONSE"],
      ];
    for (const [code, status, exit, shown] of cases) {
      issuer.answers.set(
        `/v1/agents/${did}/did.json`,
        refusal(code, "refused", status),
      );
      const args = ["did", "show", did, "--server", issuer.url];
      const human = await cli(args, { home });
      refused(human, shown, exit);
      if (code !== shown && code !== "ERR_NO_SUCH_CODE") {
        assert.match(human.stderr, new RegExp(code), "the message names it");
      }
      const data = await cli([...args, "--json"], { home });
      assert.equal(data.code, exit, `${code} --json: ${data.stderr}`);
      assert.equal(JSON.parse(data.stderr).error.code, shown, code);
    }
    // The CLI's own usage error keeps its exit code.
    refused(
      await cli(["did", "show", "--server", issuer.url], { home }),
      "ERR_USAGE",
      2,
    );
  });
});

Deno.test("register stores only an operator id and a DID of the right shape", async (t) => {
  await withHostileIssuer(async (issuer, dir) => {
    const operator = `${dir}/operator`;
    ok(
      await cli([
        "init",
        "--operator",
        "--domain",
        "example.com",
        "--server",
        issuer.url,
      ], { home: operator }),
      "init --operator",
    );
    const operatorFile = async () =>
      JSON.parse(await Deno.readTextFile(`${operator}/operator.json`));

    await t.step("register operator", async () => {
      for (
        const id of [
          "../../v1/agents/x",
          "op_" + "0".repeat(31),
          "op_" + "A".repeat(32),
          `${OPERATOR_ID}\n`,
          42,
          null,
        ]
      ) {
        issuer.answers.set("/v1/operators", () =>
          json({
            operator_id: id,
            domain: "example.com",
            verified: false,
            verified_at: null,
          }, 201));
        const result = await cli(["register", "operator"], { home: operator });
        refused(result, "ERR_ISSUER_RESPONSE", 4);
        assert.equal((await operatorFile()).operator_id, undefined, `${id}`);
      }
      issuer.answers.set("/v1/operators", () =>
        json({
          operator_id: OPERATOR_ID,
          domain: "example.com",
          verified: false,
          verified_at: null,
        }, 201));
      ok(await cli(["register", "operator"], { home: operator }), "control");
      assert.equal((await operatorFile()).operator_id, OPERATOR_ID);
    });

    const agent = `${dir}/agent`;
    const init = JSON.parse(
      ok(
        await cli([
          "init",
          "--json",
          "--domain",
          "example.com",
          "--server",
          issuer.url,
        ], { home: agent }),
        "init agent",
      ).stdout,
    );
    const did: string = init.did;
    const agentFile = async () =>
      JSON.parse(await Deno.readTextFile(`${agent}/agent.json`));
    const answer = (changes: Record<string, unknown>) => () =>
      json({
        did,
        domain: "example.com",
        operator_id: OPERATOR_ID,
        status: "active",
        created_at: new Date().toISOString(),
        ...changes,
      }, 201);

    await t.step("register agent", async () => {
      for (
        const changes of [
          { operator_id: "../../x" },
          { operator_id: "op_" + "1".repeat(32) }, // not the one asked for
          { operator_id: undefined },
          { did: "did:agent:evil" },
          { did: `${did}\u001b[2J` },
          { did: `did:agent:example.com:${"ef".repeat(16)}` }, // another agent
          { did: undefined },
        ]
      ) {
        issuer.answers.set("/v1/agents", answer(changes));
        const result = await cli(
          ["register", "agent", "--operator-id", OPERATOR_ID],
          { home: agent },
        );
        refused(result, "ERR_ISSUER_RESPONSE", 4);
        assert.equal(
          (await agentFile()).operator_id,
          undefined,
          JSON.stringify(changes),
        );
      }
      issuer.answers.set("/v1/agents", answer({}));
      ok(
        await cli(["register", "agent", "--operator-id", OPERATOR_ID], {
          home: agent,
        }),
        "control",
      );
      const file = await agentFile();
      assert.deepEqual([file.did, file.operator_id], [did, OPERATOR_ID]);
    });

    await t.step(
      "a command that rethrows the issuer's code keeps its provenance",
      async () => {
        // rotate-key rethrows a 5xx with its code and more words: the code still
        // came from the issuer.
        issuer.answers.set(
          `/v1/agents/${did}/key`,
          refusal("ERR_CONFIG", "bad config", 500),
        );
        const result = await cli(["rotate-key"], { home: agent });
        refused(result, "ERR_ISSUER_RESPONSE", 4);
      },
    );
  });
});

Deno.test("audit list: a reason or target cannot forge a line or send escape sequences", async () => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-audit-" });
  const db = `${dir}/issuer.db`;
  try {
    const store = await openStore(db);
    try {
      await store.appendAudit({
        at: new Date("2026-01-02T03:04:05.000Z"),
        actor: OPERATOR_ID,
        action: "agent.revoke",
        target: "did:agent:example.com:x\u001b[1A",
        outcome: "success",
        reason:
          "compromised\n2  2026-01-02T03:04:06.000Z  agent.reactivate  op_x → did:agent:example.com:x\u009b2K",
      });
    } finally {
      await store.close();
    }
    const result = ok(
      await cli(["audit", "list", "--db", db], { home: `${dir}/home` }),
      "audit list",
    );
    assertNoControls(result.stdout, "stdout");
    assert.equal(
      result.stdout,
      `1  2026-01-02T03:04:05.000Z  agent.revoke  ${OPERATOR_ID} → did:agent:example.com:x\\u001b[1A  (compromised\\u000a2  2026-01-02T03:04:06.000Z  agent.reactivate  op_x → did:agent:example.com:x\\u009b2K)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
