/**
 * The federation file (`serve --federation-file`, serve/federation.ts): a
 * good file gives its peers as written; anything malformed, unknown or out
 * of bounds stops `serve` with ERR_CONFIG and a message naming the file and
 * the value (a misspelt key must not widen or narrow trust unseen). And
 * `serve` takes no issuer as both a federation peer and a workload
 * platform, nor itself as its own peer.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { resolveServeConfig } from "../../src/serve/config.ts";
import {
  type FederationPeer,
  loadFederationFile,
  MAX_FEDERATION_FILE_BYTES,
  parseFederationFile,
} from "../../src/serve/federation.ts";
import { startServer } from "../../src/serve/server.ts";
import { withTempDir } from "./helpers.ts";

const FILE = "/etc/auth4agent/federation.json";

const GOOD_PEER = {
  issuer: "https://a.example",
  domains: ["partner.example"],
  scopes: ["read:data"],
};

/** The file's text for `document` (JSON unless already a string). */
function text(document: unknown): string {
  return typeof document === "string" ? document : JSON.stringify(document);
}

/** One peer, GOOD_PEER with `changes` (undefined: the key left out). */
function withPeer(changes: Record<string, unknown>): unknown {
  const peer: Record<string, unknown> = { ...GOOD_PEER, ...changes };
  for (const key of Object.keys(peer)) {
    if (peer[key] === undefined) delete peer[key];
  }
  return { peers: [peer] };
}

/** Asserts ERR_CONFIG whose message names the file and matches `message`. */
function refused(document: unknown, message: RegExp, what?: string): void {
  assert.throws(
    () => parseFederationFile(text(document), FILE),
    (error) => {
      assert.ok(
        error instanceof Auth4AgentError,
        `${what ?? text(document)}: ${error}`,
      );
      assert.equal(error.code, "ERR_CONFIG", what ?? text(document));
      assert.ok(
        error.message.startsWith(`${FILE}: `),
        `names the file: ${error.message}`,
      );
      assert.match(error.message, message, what ?? text(document));
      return true;
    },
    what ?? text(document),
  );
}

// ---------------------------------------------------------------------------

Deno.test("federation file: a good file gives its peers, in order, as written", () => {
  const written = {
    peers: [
      {
        issuer: "https://auth.partner.example",
        domains: ["partner.example", "xn--bcher-kva.example"],
        scopes: ["read:data", "write:data"],
      },
      {
        // http only to this host (a test peer, a local proxy).
        issuer: "http://127.0.0.1:8443",
        domains: ["sub.other.example"],
        scopes: ["read:reports"],
      },
      {
        issuer: "http://localhost:9",
        domains: ["local.example"],
        scopes: ["x"],
      },
      {
        issuer: "https://issuer.example/tenants/7",
        domains: ["partner.example"],
        scopes: ["read:data"],
      },
    ],
  };
  const peers: FederationPeer[] = parseFederationFile(text(written), FILE);
  assert.deepEqual(peers, written.peers);
  // Whitespace and key order are JSON's business.
  assert.deepEqual(
    parseFederationFile(
      `\n{ "peers" : [ { "scopes": ["read:data"], "domains": ["partner.example"],
        "issuer": "https://a.example" } ] }\n`,
      FILE,
    ),
    [GOOD_PEER],
  );
  // The most: 64 peers, 256 domains each, 64 scopes.
  const many = parseFederationFile(
    text({
      peers: Array.from({ length: 64 }, (_, i) => ({
        issuer: `https://peer${i}.example`,
        domains: Array.from(
          { length: 256 },
          (_, j) => `d${j}.peer${i}.example`,
        ),
        scopes: Array.from({ length: 64 }, (_, j) => `scope:${j}`),
      })),
    }),
    FILE,
  );
  assert.equal(many.length, 64);
  assert.equal(many[63]!.domains.length, 256);
  assert.equal(many[63]!.scopes.length, 64);
});

Deno.test("federation file: not JSON, or not an object of peers, is ERR_CONFIG", () => {
  refused("", /not JSON/);
  refused("{peers: []}", /not JSON/);
  refused('{"peers": [', /not JSON/);
  refused("peers:\n  - issuer: https://a.example", /not JSON/, "YAML");
  refused("[]", /the file must be an object/);
  refused("null", /the file must be an object/);
  refused('"peers"', /the file must be an object/);
  refused("7", /the file must be an object/);
  refused({ peers: {} }, /peers must be an array/);
  refused({ peers: "https://a.example" }, /peers must be an array/);
  refused({ peers: null }, /peers must be an array/);
  refused({ peers: [null] }, /peers\[0\] must be an object/);
  refused({ peers: [GOOD_PEER, []] }, /peers\[1\] must be an object/);
  refused({ peers: ["https://a.example"] }, /peers\[0\] must be an object/);
});

Deno.test("federation file: an unknown key, at the top or in a peer, is ERR_CONFIG naming it", () => {
  refused(
    { peers: [GOOD_PEER], version: 1 },
    /the file has an unknown key "version"/,
  );
  refused({ peer: [GOOD_PEER] }, /the file has an unknown key "peer"/);
  refused({ Peers: [GOOD_PEER] }, /unknown key "Peers"/);
  refused(
    withPeer({ scope: ["read:data"] }),
    /peers\[0\] has an unknown key "scope"/,
  );
  refused(
    withPeer({ audience: "https://b.example" }),
    /unknown key "audience"/,
  );
  refused(withPeer({ domain: "partner.example" }), /unknown key "domain"/);
  // `__proto__` is an own key of a parsed object: unknown too.
  refused(
    `{"peers": [], "__proto__": {"peers": []}}`,
    /unknown key "__proto__"/,
  );
  refused(
    {
      peers: [GOOD_PEER, {
        ...GOOD_PEER,
        issuer: "https://b.example",
        max_lifetime: 60,
      }],
    },
    /peers\[1\] has an unknown key "max_lifetime"/,
  );
});

Deno.test("federation file: a missing key is ERR_CONFIG naming it", () => {
  refused({}, /the file needs peers/);
  refused(withPeer({ issuer: undefined }), /peers\[0\] needs issuer/);
  refused(withPeer({ domains: undefined }), /peers\[0\] needs domains/);
  refused(withPeer({ scopes: undefined }), /peers\[0\] needs scopes/);
  refused({ peers: [{}] }, /peers\[0\] needs issuer/);
});

Deno.test("federation file: an issuer must be an https URL (http only to this host), without credentials, query or fragment, of at most 512 bytes", () => {
  for (
    const [issuer, message] of [
      ["http://a.example", /must be https/],
      ["http://auth.partner.example:8080", /must be https/],
      ["http://10.0.0.7", /must be https/],
      ["ftp://a.example", /must be https/],
      ["a.example", /not an absolute URL/],
      ["", /not an absolute URL/],
      ["https://user:pw@a.example", /credentials/],
      ["https://user@a.example", /credentials/],
      ["https://a.example/?tenant=7", /query/],
      ["https://a.example/?", /query/],
      ["https://a.example/#", /fragment/],
      [`https://a.example/${"é".repeat(250)}`, /at most 512 bytes/],
      [7, /must be a URL/],
      [null, /must be a URL/],
      [["https://a.example"], /must be a URL/],
    ] as const
  ) {
    refused(
      withPeer({ issuer }),
      new RegExp(`peers\\[0\\]\\.issuer.*${message.source}`),
      JSON.stringify(issuer),
    );
  }
});

Deno.test("federation file: a peer listed twice is ERR_CONFIG", () => {
  refused(
    { peers: [GOOD_PEER, { ...GOOD_PEER, domains: ["other.example"] }] },
    /https:\/\/a\.example is listed twice/,
  );
  // Byte for byte: another identifier (a path) is another issuer.
  assert.equal(
    parseFederationFile(
      text({
        peers: [GOOD_PEER, { ...GOOD_PEER, issuer: "https://a.example/t" }],
      }),
      FILE,
    ).length,
    2,
  );
  // The origin with a slash is no token's iss: refused with what to write.
  refused(
    { peers: [{ ...GOOD_PEER, issuer: "https://a.example/" }] },
    /write it as its tokens' iss, https:\/\/a\.example \(no trailing slash\)/,
  );
});

Deno.test("federation file: domains must be a non-empty list of distinct, valid, canonical domains (at most 256)", () => {
  for (
    const [domains, message] of [
      [[], / must be a non-empty array of distinct strings \(at most 256\)/],
      ["partner.example", / must be a non-empty array/],
      [null, / must be a non-empty array/],
      [[7], / must be a non-empty array/],
      [["partner.example", null], / must be a non-empty array/],
      [["partner.example", "partner.example"], /distinct/],
      [Array.from({ length: 257 }, (_, i) => `d${i}.example`), /at most 256/],
      [["Partner.Example"], /"Partner\.Example": write it partner\.example/],
      [["partner.example."], /"partner\.example\.": write it partner\.example/],
      [["localhost"], /"localhost": .*two labels/],
      [["127.0.0.1"], /"127\.0\.0\.1": .*IP address/],
      [["part ner.example"], /"part ner\.example": .*invalid label/],
      [["-partner.example"], /invalid label/],
      [[""], /"": domain is empty/],
      [["bücher.example"], /not ASCII/],
      [["xn--zz.example"], /xn-- label/],
      [["*.partner.example"], /invalid label/],
      [["partner.example", "did:agent:partner.example"], /invalid label/],
    ] as const
  ) {
    refused(
      withPeer({ domains }),
      new RegExp(`peers\\[0\\]\\.domains.*${message.source}`),
      JSON.stringify(domains),
    );
  }
});

Deno.test("federation file: scopes must be a non-empty list of distinct scope tokens, each one scope (at most 64)", () => {
  for (
    const [scopes, message] of [
      [[], /peers\[0\]\.scopes must be a non-empty array of distinct strings$/],
      ["read:data", /peers\[0\]\.scopes must be a non-empty array/],
      [[1], /peers\[0\]\.scopes must be a non-empty array/],
      [["read:data", "read:data"], /distinct/],
      [[""], /peers\[0\]\.scopes: "" is not one scope/],
      [["read:data", ""], /peers\[0\]\.scopes: "" is not one scope/],
      [["read data"], /peers\[0\]\.scopes: "read data" is not one scope/],
      [["read:data write:data"], /"read:data write:data" is not one scope/],
      [
        ["read:data", "write:data read:data"],
        /"write:data read:data" is not one scope/,
      ],
      [[" read:data"], /peers\[0\]\.scopes: invalid scope/],
      [['read"data'], /peers\[0\]\.scopes: invalid scope/],
      [["read\\data"], /peers\[0\]\.scopes: invalid scope/],
      [["read:dåta"], /peers\[0\]\.scopes: invalid scope/],
      [["read:data\n"], /peers\[0\]\.scopes: invalid scope/],
      [["s".repeat(129)], /peers\[0\]\.scopes: invalid scope/],
      [Array.from({ length: 65 }, (_, i) => `scope:${i}`), /at most 64 scopes/],
    ] as const
  ) {
    refused(
      withPeer({ scopes }),
      message,
      JSON.stringify(scopes),
    );
  }
  // 128 characters is the longest scope.
  assert.deepEqual(
    parseFederationFile(text(withPeer({ scopes: ["s".repeat(128)] })), FILE)[0]!
      .scopes,
    ["s".repeat(128)],
  );
});

Deno.test("federation file: more than 64 peers is ERR_CONFIG", () => {
  refused(
    {
      peers: Array.from({ length: 65 }, (_, i) => ({
        ...GOOD_PEER,
        issuer: `https://peer${i}.example`,
      })),
    },
    /peers must be an array of at most 64 peers/,
  );
});

Deno.test("federation file: read from disk, none without the flag; unreadable, too large or not UTF-8 is ERR_CONFIG", async () => {
  assert.deepEqual(await loadFederationFile(undefined), []);
  await withTempDir(async (dir) => {
    const good = `${dir}/federation.json`;
    await Deno.writeTextFile(good, text({ peers: [GOOD_PEER] }));
    assert.deepEqual(await loadFederationFile(good), [GOOD_PEER]);

    const rejects = async (file: string, message: RegExp) =>
      await assert.rejects(loadFederationFile(file), (error) => {
        assert.ok(error instanceof Auth4AgentError, String(error));
        assert.equal(error.code, "ERR_CONFIG");
        assert.ok(error.message.startsWith(`${file}: `), error.message);
        assert.match(error.message, message);
        return true;
      });
    await rejects(`${dir}/missing.json`, /cannot be read/);
    await rejects(dir, /cannot be read/);
    const large = `${dir}/large.json`;
    await Deno.writeTextFile(
      large,
      text({ peers: [GOOD_PEER] }) + " ".repeat(MAX_FEDERATION_FILE_BYTES),
    );
    await rejects(large, /larger than 262144 bytes/);
    const latin1 = `${dir}/latin1.json`;
    await Deno.writeFile(
      latin1,
      new Uint8Array([
        ...new TextEncoder().encode('{"peers": [], "x": "'),
        0xe9,
        ...new TextEncoder().encode('"}'),
      ]),
    );
    await rejects(latin1, /cannot be read/);
    const malformed = `${dir}/malformed.json`;
    await Deno.writeTextFile(malformed, text(withPeer({ scopes: [] })));
    await rejects(malformed, /peers\[0\]\.scopes/);
  });
});

Deno.test("federation file: serve refuses a peer that is also a --workload-issuer, or this issuer itself, before it opens its store", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/issuer.db`;
    const config = (workloadIssuer: string[] = [], federationFile?: string) =>
      resolveServeConfig({
        issuer: "https://b.example",
        host: "127.0.0.1",
        port: "0",
        db,
        workloadIssuer,
        federationFile,
      }, () => undefined);
    const refusedToStart = async (
      start: () => Promise<unknown>,
      message: RegExp,
    ) => {
      let started: unknown;
      await assert.rejects(
        (async () => {
          started = await start();
        })(),
        (error) => {
          assert.ok(error instanceof Auth4AgentError, String(error));
          assert.equal(error.code, "ERR_CONFIG");
          assert.match(error.message, message);
          return true;
        },
      ).finally(async () => {
        // Should it have started, it is stopped (and the test fails).
        await (started as { shutdown?: () => Promise<void> })?.shutdown?.();
      });
    };

    await refusedToStart(
      () =>
        startServer(config(["https://a.example"]), {
          federation: [GOOD_PEER],
          log: () => {},
        }),
      /https:\/\/a\.example is both a federation peer and a --workload-issuer/,
    );
    await refusedToStart(
      () =>
        startServer(config(), {
          federation: [{ ...GOOD_PEER, issuer: "https://b.example" }],
          log: () => {},
        }),
      /https:\/\/b\.example is this issuer/,
    );
    // From the file the flag names, likewise; and a malformed file.
    const file = `${dir}/federation.json`;
    await Deno.writeTextFile(file, text({ peers: [GOOD_PEER] }));
    await refusedToStart(
      () => startServer(config(["https://a.example"], file), { log: () => {} }),
      /both a federation peer and a --workload-issuer/,
    );
    await Deno.writeTextFile(file, text({ peers: [GOOD_PEER], extra: 1 }));
    await refusedToStart(
      () => startServer(config([], file), { log: () => {} }),
      /unknown key "extra"/,
    );
    // Without --issuer, the identifier it binds (http://127.0.0.1:PORT) is
    // checked once bound, still before the store opens.
    const port = await freePort();
    await refusedToStart(
      () =>
        startServer(
          resolveServeConfig({
            host: "127.0.0.1",
            port: String(port),
            db,
          }, () => undefined),
          {
            federation: [{ ...GOOD_PEER, issuer: `http://127.0.0.1:${port}` }],
            log: () => {},
          },
        ),
      /is this issuer/,
    );
    // Nothing was opened: no database was made.
    await assert.rejects(Deno.stat(db), Deno.errors.NotFound);
  });
});

Deno.test("federation file: --federation-file and AUTH4AGENT_FEDERATION_FILE name it in the config", () => {
  assert.equal(
    resolveServeConfig({ federationFile: "/a.json" }, () => undefined)
      .federationFile,
    "/a.json",
  );
  assert.equal(
    resolveServeConfig(
      {},
      (name) => name === "AUTH4AGENT_FEDERATION_FILE" ? "/env.json" : undefined,
    ).federationFile,
    "/env.json",
  );
  assert.equal(
    resolveServeConfig({}, () => undefined).federationFile,
    undefined,
  );
});

/** A port free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  await Promise.resolve();
  return port;
}
