/**
 * The HTTP edge through the real handler: media types, the 16 KiB body limit,
 * malformed bodies, unknown paths and wrong methods — each a 4xx with its
 * stable error_code, never a 5xx.
 */
import assert from "node:assert/strict";
import { MAX_BODY_BYTES } from "../../src/serve/http.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import {
  asCaller,
  assertError,
  assertNoInternalErrors,
  assertOk,
  FORM,
  JSON_TYPE,
  postForm,
  postJson,
  revoke,
  send,
  setup,
  tokenParams,
  withFixture,
} from "./helpers.ts";

const FORM_ROUTES = ["/oauth/token", "/oauth/introspect", "/oauth/revoke"];
const JSON_ROUTES = ["/v1/challenges", "/v1/operators", "/v1/agents"];

Deno.test("http: a wrong Content-Type is 415 ERR_UNSUPPORTED_MEDIA_TYPE", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const form = new URLSearchParams(await tokenParams(fx, agent)).toString();
    for (const type of [JSON_TYPE, "text/plain", "multipart/form-data"]) {
      await assertError(
        await send(fx, "/oauth/token", {
          method: "POST",
          headers: { "Content-Type": type },
          body: form,
        }),
        415,
        "ERR_UNSUPPORTED_MEDIA_TYPE",
      );
    }
    await assertError(
      await send(fx, "/oauth/token", {
        method: "POST",
        body: new Uint8Array([1]),
      }),
      415,
      "ERR_UNSUPPORTED_MEDIA_TYPE",
    );
    for (const path of JSON_ROUTES) {
      await assertError(
        await send(fx, path, {
          method: "POST",
          headers: { "Content-Type": FORM },
          body: "a=b",
        }),
        415,
        "ERR_UNSUPPORTED_MEDIA_TYPE",
      );
    }
    // Parameters and case of the media type are fine.
    await assertOk(
      await send(fx, "/oauth/token", {
        method: "POST",
        headers: {
          "Content-Type": "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
        },
        body: form,
      }),
    );
  });
});

Deno.test("http: a body over 16 KiB is 413 ERR_BODY_TOO_LARGE", async () => {
  await withFixture(async (fx) => {
    const big = "a=" + "x".repeat(MAX_BODY_BYTES);
    for (const path of FORM_ROUTES) {
      await assertError(
        await postForm(fx, path, big),
        413,
        "ERR_BODY_TOO_LARGE",
      );
      // Declared by Content-Length, refused before reading.
      await assertError(
        await postForm(fx, path, big, { "Content-Length": String(big.length) }),
        413,
        "ERR_BODY_TOO_LARGE",
      );
    }
    const bigJson = JSON.stringify({ client_id: "x".repeat(MAX_BODY_BYTES) });
    for (const path of JSON_ROUTES) {
      await assertError(
        await postJson(fx, path, bigJson),
        413,
        "ERR_BODY_TOO_LARGE",
      );
    }
    // A streamed body without a length is cut off too.
    const chunk = new Uint8Array(4096).fill(0x61);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 10) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    });
    await assertError(
      await send(fx, "/oauth/token", {
        method: "POST",
        headers: { "Content-Type": FORM },
        body: stream,
      }),
      413,
      "ERR_BODY_TOO_LARGE",
    );
    assert.ok(sent < 10, "the server stopped reading early");
    // Exactly the limit is read (and then refused for what it says).
    await assertError(
      await postForm(fx, "/oauth/token", "a=" + "x".repeat(MAX_BODY_BYTES - 2)),
      400,
      "ERR_INVALID_REQUEST",
    );
  });
});

Deno.test("http: malformed JSON and non-object JSON are 400 ERR_INVALID_REQUEST", async () => {
  await withFixture(async (fx) => {
    for (const path of JSON_ROUTES) {
      for (const body of ["{", "", "[]", "null", "42", '"text"', "{'a':1}"]) {
        await assertError(
          await postJson(fx, path, body),
          400,
          "ERR_INVALID_REQUEST",
          "invalid_request",
        );
      }
    }
    // Bytes that are not UTF-8.
    await assertError(
      await send(fx, "/v1/challenges", {
        method: "POST",
        headers: { "Content-Type": JSON_TYPE },
        body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]),
      }),
      400,
      "ERR_INVALID_REQUEST",
    );
    await assertError(
      await send(fx, "/oauth/token", {
        method: "POST",
        headers: { "Content-Type": FORM },
        body: new Uint8Array([0x61, 0x3d, 0xc3, 0x28]),
      }),
      400,
      "ERR_INVALID_REQUEST",
    );
    assertNoInternalErrors(fx);
  });
});

Deno.test("http: error_description holds only RFC 6749 §5.2's characters; request text echoed in it is percent-encoded, not lost", async () => {
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent);
    for (
      const [name, value] of [
        ["grant_type", "p\u00e4ssword"],
        ["scope", "read:data\\x"],
        ["grant_type", 'say "hi"'],
      ]
    ) {
      const response = await postForm(fx, "/oauth/token", {
        ...params,
        [name!]: value!,
      });
      const body = await response.json();
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.match(body.error_description, /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/);
      if (value!.includes("\u00e4")) {
        assert.ok(body.error_description.includes("p%C3%A4ssword"));
      }
      if (value!.includes("\\")) {
        assert.ok(body.error_description.includes("read:data%5C"));
      }
    }
  });
});

Deno.test("http: an unknown path is 404 ERR_NOT_FOUND", async () => {
  await withFixture(async (fx) => {
    for (
      const path of [
        "/",
        "/oauth",
        "/oauth/token/extra",
        "/v1/unknown",
        "/.well-known/openid-configuration",
      ]
    ) {
      await assertError(
        await send(fx, path),
        404,
        "ERR_NOT_FOUND",
        "not_found",
      );
      await assertError(
        await send(fx, path, { method: "POST" }),
        404,
        "ERR_NOT_FOUND",
      );
    }
  });
});

Deno.test("http: a wrong method is 405 ERR_METHOD_NOT_ALLOWED", async () => {
  await withFixture(async (fx) => {
    const cases: [string, string][] = [
      ["GET", "/oauth/token"],
      ["PUT", "/oauth/token"],
      ["GET", "/oauth/introspect"],
      ["DELETE", "/oauth/revoke"],
      ["POST", "/.well-known/jwks.json"],
      ["POST", "/.well-known/oauth-authorization-server"],
      ["POST", "/healthz"],
      ["GET", "/v1/challenges"],
      ["DELETE", "/v1/operators/op_00000000000000000000000000000000"],
    ];
    for (const [method, path] of cases) {
      await assertError(
        await send(fx, path, { method }),
        405,
        "ERR_METHOD_NOT_ALLOWED",
      );
    }
  });
});

Deno.test("http: a 405 names the allowed methods in Allow (RFC 9110 §15.5.6)", async () => {
  await withFixture(async (fx) => {
    const cases: [string, string, string][] = [
      ["GET", "/oauth/token", "POST"],
      ["POST", "/.well-known/jwks.json", "GET, HEAD"],
      [
        "DELETE",
        "/v1/agents/did:agent:example.com:" + "0".repeat(32) + "/scopes",
        "PUT, GET, HEAD",
      ],
    ];
    for (const [method, path, allow] of cases) {
      const response = await send(fx, path, { method });
      assert.equal(response.headers.get("Allow"), allow);
      await assertError(response, 405, "ERR_METHOD_NOT_ALLOWED");
    }
  });
});

/**
 * One request on a fresh socket to `port`, read to the end: every byte the
 * server sends, so stray body bytes after a HEAD answer would show (fetch
 * drops them).
 */
async function exchange(
  port: number,
  method: string,
  path: string,
): Promise<{ status: string; headers: Record<string, string>; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(
    new TextEncoder().encode(
      `${method} ${path} HTTP/1.1\r\nHost: issuer.test\r\nConnection: close\r\n\r\n`,
    ),
  );
  // Reading the stream to its end closes the connection.
  const raw = await new Response(conn.readable).text();
  const end = raw.indexOf("\r\n\r\n");
  const [status = "", ...lines] = raw.slice(0, end).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  delete headers.date; // may tick between the two requests
  return { status, headers, body: raw.slice(end + 4) };
}

Deno.test("http: HEAD is GET without a body, on the wire (RFC 9110 §9.3.2, §8.6)", async () => {
  await withFixture(async (fx) => {
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => fx.app(request),
    );
    try {
      const { port } = server.addr;
      for (const path of ["/healthz", "/.well-known/jwks.json", "/nowhere"]) {
        const get = await exchange(port, "GET", path);
        const head = await exchange(port, "HEAD", path);
        assert.notEqual(get.body, "");
        assert.equal(head.body, "", `HEAD ${path} sends no body`);
        assert.equal(head.status, get.status);
        // Content-Length, if sent, must be what GET sends (§8.6), not 0.
        const { "content-length": length, ...rest } = head.headers;
        if (length !== undefined) {
          assert.equal(length, get.headers["content-length"], path);
        }
        const { "content-length": _, ...getRest } = get.headers;
        assert.deepEqual(rest, getRest, path);
      }
    } finally {
      await server.shutdown();
    }
  });
});

Deno.test("http: responses carry no-store and security headers", async () => {
  const common = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
  };
  const headersOf = async (response: Response) => {
    await response.body?.cancel();
    return Object.fromEntries(response.headers);
  };
  await withFixture(async (fx) => {
    assert.deepEqual(await headersOf(await send(fx, "/nowhere")), common);
    assert.deepEqual(
      await headersOf(
        await send(fx, "/.well-known/oauth-authorization-server"),
      ),
      // Public metadata may be cached (discovery.ts); the rest stays.
      { ...common, "cache-control": "public, max-age=300" },
    );
    // An endpoint's own Content-Type replaces the default, once.
    const jwks = await send(fx, "/.well-known/jwks.json");
    assert.equal(
      (await headersOf(jwks))["content-type"],
      "application/jwk-set+json",
    );
    const { agent } = await setup(fx);
    // RFC 6749 §5.1: a token answer adds Pragma: no-cache.
    const token = await postForm(
      fx,
      "/oauth/token",
      await tokenParams(fx, agent),
    );
    assert.equal(token.status, 200);
    assert.deepEqual(await headersOf(token), {
      ...common,
      pragma: "no-cache",
    });
    // An error's own headers join them (RFC 6749 §5.2: 401 with WWW-Authenticate).
    const basic = await postForm(
      fx,
      "/oauth/token",
      await tokenParams(fx, agent),
      { Authorization: "Basic YTpi" },
    );
    assert.equal(basic.status, 401);
    assert.deepEqual(await headersOf(basic), {
      ...common,
      "www-authenticate": 'Basic realm="auth4agent", error="invalid_client"',
    });
    // The challenge names the scheme the client tried (RFC 6749 §5.2), e.g.
    // a resource server introspecting with a bearer token.
    for (
      const [authorization, scheme] of [
        ["Bearer abc", "Bearer"],
        ["DPoP abc", "DPoP"],
        ["Negotiate", "Negotiate"],
        ['"bogus" x', "Basic"],
      ] as const
    ) {
      const tried = await postForm(
        fx,
        "/oauth/introspect",
        { token: "x" },
        { Authorization: authorization },
      );
      assert.equal(tried.status, 401);
      assert.equal(
        tried.headers.get("www-authenticate"),
        `${scheme} realm="auth4agent", error="invalid_client"`,
      );
      await tried.body?.cancel();
    }
    // Revoking an unknown token is an empty 200 (RFC 7009 §2.2): no
    // Content-Type, every other header as above.
    const unknown = await revoke(fx, "garbage", asCaller(agent));
    assert.equal(unknown.status, 200);
    assert.equal(await unknown.text(), "");
    const { "content-type": _, ...bodiless } = common;
    assert.deepEqual(Object.fromEntries(unknown.headers), bodiless);
  });
});

Deno.test("http: no answer leaves before the store says every commit is durable; a failed sync is a 500", async () => {
  const store = new SqliteStore(":memory:");
  let release!: () => void;
  let outcome: Promise<void> = Promise.resolve();
  store.durable = () => outcome;
  await withFixture(async (fx) => {
    outcome = new Promise((resolve) => release = resolve);
    let answered = false;
    const pending = send(fx, "/.well-known/jwks.json").then((response) => {
      answered = true;
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(answered, false, "held while a commit is not durable");
    release();
    assert.equal((await pending).status, 200);
    await (await pending).body?.cancel();

    outcome = Promise.reject(new Error("sync failed: EIO"));
    outcome.catch(() => {});
    // Refusals are held too, and turn into a 500 without details.
    for (const path of ["/.well-known/jwks.json", "/nowhere"]) {
      const failed = await send(fx, path);
      await assertError(failed, 500, "ERR_INTERNAL");
    }
    assert.ok(
      fx.logs.some((line) => String(line.error).includes("EIO")),
      "the sync error is logged",
    );
    outcome = Promise.resolve();
  }, { store });
});

Deno.test("http: token and challenge answers rest on their own durable write and leave without waiting for later commits", async () => {
  const store = new SqliteStore(":memory:");
  let laterCommits: Promise<void> = Promise.resolve();
  store.durable = () => laterCommits;
  await withFixture(async (fx) => {
    const { agent } = await setup(fx);
    const params = await tokenParams(fx, agent, {
      extra: { scope: "read:data" },
    });
    // Some later commit is never durable: the token is answered regardless…
    laterCommits = new Promise(() => {});
    const body = await assertOk(await postForm(fx, "/oauth/token", params));
    assert.equal(typeof body.access_token, "string");
    // …and so is a challenge (flow (a)'s first step writes it, then answers).
    const challenge = await postJson(fx, "/v1/challenges", {
      client_id: agent.did,
    });
    assert.equal(challenge.status, 201);
    await challenge.body?.cancel();
    // …while a read-only answer and a refusal (the replay) are held.
    const held = { read: true, refusal: true };
    send(fx, "/.well-known/jwks.json").then(() => held.read = false);
    postForm(fx, "/oauth/token", params).then(() => held.refusal = false);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(held, { read: true, refusal: true });
  }, { store });
});
