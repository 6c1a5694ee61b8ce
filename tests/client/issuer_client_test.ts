/**
 * How `IssuerClient` reads an error answer: an auth4agent error keeps its
 * code; an answer without one (a proxy's page, a wrong URL) gets a code from
 * its status alone, and a message that says what happened.
 */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";

const SERVER = "http://issuer.test";

/** The code and message of metadata() against a server that answers `response`. */
async function failure(
  response: () => Response,
): Promise<{ code: ErrorCode; message: string }> {
  const client = new IssuerClient(SERVER, {
    fetch: () => Promise.resolve(response()),
  });
  try {
    await client.metadata();
  } catch (error) {
    assert.ok(error instanceof Auth4AgentError, String(error));
    return { code: error.code, message: error.message };
  }
  assert.fail("metadata() succeeded");
}

Deno.test("IssuerClient: an auth4agent error keeps its code and description", async () => {
  const { code, message } = await failure(() =>
    Response.json({
      error: "invalid_client",
      error_code: "ERR_AGENT_SUSPENDED",
      error_description: "agent is suspended",
    }, { status: 401 })
  );
  assert.equal(code, "ERR_AGENT_SUSPENDED");
  assert.equal(message, "agent is suspended");
});

Deno.test("IssuerClient: a 404 page from a wrong URL is ERR_ISSUER_RESPONSE, not ERR_FORBIDDEN", async () => {
  const { code, message } = await failure(() =>
    new Response("<html>Not Found</html>", {
      status: 404,
      headers: { "content-type": "text/html" },
    })
  );
  assert.equal(code, "ERR_ISSUER_RESPONSE");
  assert.match(message, /http:\/\/issuer\.test answered HTTP 404/);
  assert.match(message, /is that the issuer's URL\?/);
});

Deno.test("IssuerClient: an unknown error_code is not trusted as a code", async () => {
  const { code } = await failure(() =>
    Response.json({ error_code: "ERR_MADE_UP" }, { status: 400 })
  );
  assert.equal(code, "ERR_ISSUER_RESPONSE");
});

Deno.test("IssuerClient: a bare 403 is ERR_FORBIDDEN, a bare 429 ERR_RATE_LIMITED, a bare 502 ERR_ISSUER_RESPONSE", async () => {
  const bare = (status: number) => () => new Response("", { status });
  assert.equal((await failure(bare(403))).code, "ERR_FORBIDDEN");
  assert.equal((await failure(bare(429))).code, "ERR_RATE_LIMITED");
  const gateway = await failure(bare(502));
  assert.equal(gateway.code, "ERR_ISSUER_RESPONSE");
  assert.doesNotMatch(gateway.message, /issuer's URL/);
});

Deno.test("IssuerClient.statusList: refuses an oversized or mistyped answer before reading it all; a 5xx, a 429 or a broken answer is 'unreachable'", async () => {
  const uri = "http://issuer.test/oauth/status-lists/0";
  let pulled = 0;
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 1;
        controller.enqueue(new Uint8Array(16 * 1024));
        if (pulled > 10_000) controller.close();
      },
    });
  const answer = (response: () => Response) =>
    new IssuerClient("http://issuer.test", {
      fetch: () => Promise.resolve(response()),
    });
  const type = { "Content-Type": "application/statuslist+jwt" };
  const codeOf = async (client: IssuerClient) => {
    try {
      await client.statusList(uri);
    } catch (error) {
      return (error as { code?: string }).code;
    }
    return "none";
  };
  assert.equal(
    await codeOf(answer(() => new Response(endless(), { headers: type }))),
    "ERR_ISSUER_RESPONSE",
  );
  assert.ok(pulled < 10, `read ${pulled} chunks of 16 KiB`);
  assert.equal(
    await codeOf(answer(() =>
      new Response("x", {
        headers: { ...type, "Content-Length": String(10_000_000) },
      })
    )),
    "ERR_ISSUER_RESPONSE",
  );
  for (
    const headers of [{}, {
      "Content-Type": "application/statuslist+jwtx",
    }] as Record<string, string>[]
  ) {
    assert.equal(
      await codeOf(answer(() => new Response("eyJ.x.y", { headers }))),
      "ERR_ISSUER_RESPONSE",
    );
  }
  for (const status of [500, 502, 503, 504, 429]) {
    assert.equal(
      await codeOf(answer(() => new Response("busy", { status }))),
      "ERR_ISSUER_UNREACHABLE",
    );
  }
  const broken = new ReadableStream<Uint8Array>({
    pull(controller) {
      controller.error(new TypeError("connection reset"));
    },
  });
  assert.equal(
    await codeOf(answer(() => new Response(broken, { headers: type }))),
    "ERR_ISSUER_UNREACHABLE",
  );
});
