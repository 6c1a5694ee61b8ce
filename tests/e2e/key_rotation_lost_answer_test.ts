/**
 * rotate-key when the issuer's answer is lost: a proxy between the CLI and a
 * real issuer answers 502 to the rotation or drops the connection, after
 * forwarding it (the issuer rotated) or without (it did not). The staged
 * `agent.key.next` must survive, and the next run must finish the rotation
 * with that same key. Only a refusal by the issuer (a suspended agent)
 * deletes it.
 */
import assert from "node:assert/strict";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { EXIT } from "../../src/core/errors.ts";
import { importPrivateKeyPem } from "../../src/core/keys.ts";
import { startDnsServer } from "../helpers/dns_server.ts";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
} from "../helpers/identities.ts";
import {
  cli,
  type ServerProcess,
  startServerProcess,
} from "../helpers/process.ts";

/** What the proxy does with `POST /v1/agents/{did}/key`; everything else it forwards. */
type Mode =
  | "forward"
  | "forward-then-502"
  | "forward-then-403"
  | "forward-then-drop"
  | "502"
  | "hold";

interface World {
  home: string;
  did: string;
  /** Asks the issuer directly, not through the proxy. */
  issuer: IssuerClient;
  setMode(mode: Mode): void;
}

async function withWorld(body: (world: World) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "a4a-rotate-lost-" });
  const dns = await startDnsServer();
  // The proxy starts first: the server's issuer identifier is the proxy's
  // URL, as behind a real reverse proxy (RFC 8414: clients use exactly it).
  const issuerBehind: { server?: ServerProcess } = {};
  let mode: Mode = "forward";
  /** A rotation held back by "hold", delivered just before the next one. */
  let held: (() => Promise<Response>) | undefined;
  const proxyPage = (status: number) =>
    new Response(`<html>${status}</html>`, {
      status,
      headers: { "Content-Type": "text/html" },
    });
  const badGateway = () => proxyPage(502);
  const proxy = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      const rotation = request.method === "POST" &&
        /^\/v1\/agents\/[^/]+\/key$/.test(url.pathname);
      if (rotation && mode === "hold") {
        // The client gives up (a timeout); its request is still on its way.
        const headers = new Headers(request.headers);
        headers.delete("host");
        const body = await request.arrayBuffer();
        held = () =>
          fetch(issuerBehind.server!.origin + url.pathname, {
            method: "POST",
            headers,
            body,
          });
        return badGateway();
      }
      if (rotation && held) {
        const late = held;
        held = undefined;
        await (await late()).body?.cancel();
      }
      if (rotation && mode === "502") {
        await request.body?.cancel();
        return badGateway();
      }
      const headers = new Headers(request.headers);
      headers.delete("host");
      const upstream = await fetch(
        issuerBehind.server!.origin + url.pathname + url.search,
        {
          method: request.method,
          headers,
          body: request.body ? await request.arrayBuffer() : undefined,
        },
      );
      const answer = await upstream.arrayBuffer();
      if (rotation && mode === "forward-then-502") return badGateway();
      if (rotation && mode === "forward-then-403") return proxyPage(403);
      if (rotation && mode === "forward-then-drop") {
        // The connection breaks before the answer's body arrives.
        return new Response(
          new ReadableStream({ start: (c) => c.error(new Error("dropped")) }),
          { status: 200, headers: { "Content-Type": "application/json" } },
        );
      }
      return new Response(answer, {
        status: upstream.status,
        headers: { "Content-Type": upstream.headers.get("Content-Type")! },
      });
    },
  );
  const url = `http://127.0.0.1:${proxy.addr.port}`;
  const server = await startServerProcess([
    "--db",
    `${dir}/issuer.db`,
    "--dns-server",
    dns.address,
    "--issuer",
    url,
  ]);
  issuerBehind.server = server;
  const home = `${dir}/home`;
  try {
    const operatorId = await verifiedOperator(home, "example.com", url, dns);
    const did = await registeredAgent(home, "example.com", url, operatorId);
    ok(
      await cli(["agent-scopes", "set", "--scopes", "read:payments"], { home }),
      "grant",
    );
    await body({
      home,
      did,
      issuer: new IssuerClient(server.origin),
      setMode: (next) => mode = next,
    });
  } finally {
    await proxy.shutdown();
    assert.equal(await server.stop(), 0);
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The `x` of the key the issuer holds for `did`. */
async function keyAtIssuer(issuer: IssuerClient, did: string) {
  const document = await issuer.didDocument(did) as {
    verificationMethod: { publicKeyJwk: { x: string } }[];
  };
  return document.verificationMethod[0]!.publicKeyJwk.x;
}

async function x(pem: string): Promise<string> {
  return (await importPrivateKeyPem(pem)).publicJwk.x;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Ways the issuer's answer to a rotation it made can be lost on the way. */
const LOST_ANSWERS = [
  {
    mode: "forward-then-502",
    code: "ERR_ISSUER_RESPONSE",
    exit: EXIT.unavailable,
    says: /unknown.*run `auth4agent rotate-key` again/s,
  },
  {
    // A proxy's own page, not the issuer's refusal.
    mode: "forward-then-403",
    code: "ERR_FORBIDDEN",
    exit: EXIT.failed,
    says: /unknown/,
  },
  {
    mode: "forward-then-drop",
    code: "ERR_ISSUER_RESPONSE",
    exit: EXIT.unavailable,
    says: /could not be read/,
  },
] as const;

for (const lostAnswer of LOST_ANSWERS) {
  Deno.test(`rotate-key: the issuer rotated, then ${lostAnswer.mode}; .next stays and the next run promotes it`, async () => {
    await withWorld(async ({ home, did, issuer, setMode }) => {
      const keyFile = `${home}/keys/agent.key`;
      const oldPem = await Deno.readTextFile(keyFile);

      setMode(lostAnswer.mode);
      const lost = await cli(["rotate-key"], { home });
      refused(lost, lostAnswer.code, lostAnswer.exit);
      assert.match(lost.stderr, lostAnswer.says);
      const staged = await readIfExists(`${keyFile}.next`);
      assert.ok(
        staged,
        "the staged key was deleted though the issuer holds it",
      );
      assert.equal(await Deno.readTextFile(keyFile), oldPem);
      assert.equal(await keyAtIssuer(issuer, did), await x(staged));

      setMode("forward");
      const finished = ok(
        await cli(["rotate-key", "--json"], { home }),
        "rerun",
      );
      assert.equal(JSON.parse(finished.stdout).did, did);
      assert.equal(await Deno.readTextFile(keyFile), staged);
      assert.equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
      assert.equal(await readIfExists(`${keyFile}.next`), undefined);
      ok(await cli(["issue"], { home }), "issue with the promoted key");
    });
  });
}

Deno.test("rotate-key: an earlier run's rotation lands just before the rerun's; the refused rerun promotes the staged key", async () => {
  await withWorld(async ({ home, did, issuer, setMode }) => {
    const keyFile = `${home}/keys/agent.key`;
    setMode("hold");
    refused(
      await cli(["rotate-key"], { home }),
      "ERR_ISSUER_RESPONSE",
      EXIT.unavailable,
    );
    const staged = await readIfExists(`${keyFile}.next`);
    assert.ok(staged);

    // The rerun sees the old key in the DID document and sends the rotation
    // again; the held one is delivered first, so the issuer refuses this one.
    setMode("forward");
    ok(await cli(["rotate-key"], { home }), "rerun");
    assert.equal(await keyAtIssuer(issuer, did), await x(staged));
    assert.equal(await Deno.readTextFile(keyFile), staged);
    assert.equal(await readIfExists(`${keyFile}.next`), undefined);
    ok(await cli(["issue"], { home }), "issue with the promoted key");
  });
});

Deno.test("rotate-key: the rotation never reached the issuer; the next run retries with the same staged key", async () => {
  await withWorld(async ({ home, did, issuer, setMode }) => {
    const keyFile = `${home}/keys/agent.key`;
    const oldPem = await Deno.readTextFile(keyFile);

    setMode("502");
    refused(
      await cli(["rotate-key"], { home }),
      "ERR_ISSUER_RESPONSE",
      EXIT.unavailable,
    );
    const staged = await readIfExists(`${keyFile}.next`);
    assert.ok(staged, "the staged key was deleted on an unclear failure");
    assert.equal(await keyAtIssuer(issuer, did), await x(oldPem));

    // Still unclear: the staged key is neither replaced nor deleted.
    refused(
      await cli(["rotate-key"], { home }),
      "ERR_ISSUER_RESPONSE",
      EXIT.unavailable,
    );
    assert.equal(await readIfExists(`${keyFile}.next`), staged);

    setMode("forward");
    ok(await cli(["rotate-key"], { home }), "rerun");
    assert.equal(await Deno.readTextFile(keyFile), staged);
    assert.equal(await readIfExists(`${keyFile}.next`), undefined);
    assert.equal(await keyAtIssuer(issuer, did), await x(staged));
    ok(await cli(["issue"], { home }), "issue with the new key");
  });
});

Deno.test("rotate-key: a refusal by the issuer (suspended agent) deletes the staged key", async () => {
  await withWorld(async ({ home, did, issuer, setMode }) => {
    const keyFile = `${home}/keys/agent.key`;
    const oldPem = await Deno.readTextFile(keyFile);
    ok(
      await cli(["revoke", "suspend", "--agent-id", did], { home }),
      "suspend",
    );

    refused(await cli(["rotate-key"], { home }), "ERR_AGENT_SUSPENDED");
    assert.equal(await readIfExists(`${keyFile}.next`), undefined);
    assert.equal(await Deno.readTextFile(keyFile), oldPem);

    // A key staged by an unclear run is sent again, and refused: deleted too.
    setMode("502");
    refused(
      await cli(["rotate-key"], { home }),
      "ERR_ISSUER_RESPONSE",
      EXIT.unavailable,
    );
    assert.ok(await readIfExists(`${keyFile}.next`));
    setMode("forward");
    refused(await cli(["rotate-key"], { home }), "ERR_AGENT_SUSPENDED");
    assert.equal(await readIfExists(`${keyFile}.next`), undefined);
    assert.equal(await Deno.readTextFile(keyFile), oldPem);
    assert.equal(await keyAtIssuer(issuer, did), await x(oldPem));
  });
});
