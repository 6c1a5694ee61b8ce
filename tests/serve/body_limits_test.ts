/** The HTTP edge: bodies arrive whole, small and in time, or are refused. */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { MAX_BODY_BYTES, readBody } from "../../src/serve/http.ts";

function streamed(chunks: Uint8Array[], stall = false): Request {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      if (!stall) controller.close();
    },
  });
  return new Request(
    "http://issuer.test/oauth/token",
    { method: "POST", body, duplex: "half" } as RequestInit,
  );
}

const isCode = (code: string) => (error: unknown) =>
  error instanceof Auth4AgentError && error.code === code;

Deno.test("readBody: a client that stops sending is cut off with ERR_REQUEST_TIMEOUT", async () => {
  await assert.rejects(
    readBody(streamed([new Uint8Array(10)], true), 50),
    isCode("ERR_REQUEST_TIMEOUT"),
  );
});

Deno.test("readBody: a streamed body over the limit is refused without a Content-Length", async () => {
  const chunks = Array.from(
    { length: 5 },
    () => new Uint8Array(MAX_BODY_BYTES / 4),
  );
  await assert.rejects(
    readBody(streamed(chunks)),
    isCode("ERR_BODY_TOO_LARGE"),
  );
});

Deno.test("readBody: a body in several chunks arrives whole", async () => {
  const body = await readBody(
    streamed([Uint8Array.of(1, 2), Uint8Array.of(3)]),
  );
  assert.deepEqual([...body], [1, 2, 3]);
});

Deno.test("readBody: a declared body that stops arriving is cut off too", async () => {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new Uint8Array(10));
    },
  });
  const request = new Request("http://issuer.test/oauth/token", {
    method: "POST",
    body,
    headers: { "Content-Length": "100" },
    duplex: "half",
  } as RequestInit);
  await assert.rejects(readBody(request, 50), isCode("ERR_REQUEST_TIMEOUT"));
});
