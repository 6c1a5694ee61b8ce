/**
 * Start-up configuration: `--issuer` must be a bare http(s) origin, and
 * anything else stops serve with ERR_CONFIG (docs/api.md, Conventions).
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  issuerForAddress,
  resolveServeConfig,
} from "../../src/serve/config.ts";
import { startServer } from "../../src/serve/server.ts";

const noEnv = () => undefined;

function issuer(value: string): string | undefined {
  return resolveServeConfig({ issuer: value }, noEnv).issuer;
}

Deno.test("config: --issuer accepts an http(s) origin and normalizes it", () => {
  assert.equal(issuer("https://auth.example.com"), "https://auth.example.com");
  assert.equal(issuer("https://auth.example.com/"), "https://auth.example.com");
  assert.equal(
    issuer("HTTPS://Auth.Example.com:443"),
    "https://auth.example.com",
  );
  assert.equal(issuer("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
  assert.equal(
    resolveServeConfig(
      {},
      (name) =>
        name === "AUTH4AGENT_ISSUER" ? "https://env.example.com" : undefined,
    ).issuer,
    "https://env.example.com",
  );
});

Deno.test("config: --issuer with credentials, path, query or fragment is ERR_CONFIG", () => {
  const refused = [
    "https://user:secret@auth.example.com",
    "https://user@auth.example.com",
    "https://:secret@auth.example.com", // a password alone is credentials too
    "https://auth.example.com/auth",
    "https://auth.example.com/?x=1",
    "https://auth.example.com/#top",
    "ftp://auth.example.com",
    "auth.example.com",
  ];
  for (const value of refused) {
    assert.throws(
      () => issuer(value),
      (error) =>
        error instanceof Auth4AgentError && error.code === "ERR_CONFIG",
      value,
    );
  }
});

Deno.test("config: without --issuer the identifier is http://HOST:PORT, HOST as given when it is a name", () => {
  const bound = (hostname: string) => ({ hostname, port: 8080 });
  assert.equal(
    issuerForAddress("localhost", bound("127.0.0.1")),
    "http://localhost:8080",
  );
  assert.equal(
    issuerForAddress("127.0.0.1", bound("127.0.0.1")),
    "http://127.0.0.1:8080",
  );
  assert.equal(issuerForAddress("::1", bound("::1")), "http://[::1]:8080");
  assert.equal(resolveServeConfig({}, () => undefined).host, "localhost");
});

Deno.test("config: --workload-issuer takes https platforms (http to this host), from flags or the environment, and refuses the rest", () => {
  const workloadIssuers = (values: string[]) =>
    resolveServeConfig({ workloadIssuer: values }, noEnv).workloadIssuers;
  assert.deepEqual(
    workloadIssuers([
      "https://token.actions.example.com",
      "http://127.0.0.1:9",
    ]),
    ["https://token.actions.example.com", "http://127.0.0.1:9"],
  );
  assert.deepEqual(
    resolveServeConfig(
      {},
      (name) =>
        name === "AUTH4AGENT_WORKLOAD_ISSUERS"
          ? "https://a.example  https://b.example"
          : undefined,
    ).workloadIssuers,
    ["https://a.example", "https://b.example"],
  );
  for (
    const value of [
      "http://platform.example",
      "https://platform.example/#",
      "https://platform.example/?x",
      "https://user:pw@platform.example",
      "not a url",
      `https://platform.example/${"é".repeat(250)}`, // 512 characters, over 512 bytes
    ]
  ) {
    assert.throws(
      () => workloadIssuers([value]),
      (error) =>
        error instanceof Auth4AgentError && error.code === "ERR_CONFIG",
      value,
    );
  }
});

Deno.test("config: a port already in use stops serve with ERR_CONFIG, saying so, before the database is opened", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const dir = await Deno.makeTempDir({ prefix: "a4a-port-" });
  try {
    const { port } = taken.addr as Deno.NetAddr;
    const config = resolveServeConfig({
      host: "127.0.0.1",
      port: String(port),
      db: `${dir}/issuer.db`,
    }, noEnv);
    await assert.rejects(
      startServer(config, { log: () => {} }),
      (error) => {
        assert.ok(error instanceof Auth4AgentError, String(error));
        assert.equal(error.code, "ERR_CONFIG");
        assert.match(
          error.message,
          new RegExp(`127\\.0\\.0\\.1:${port} is in use`),
        );
        return true;
      },
    );
    // Bound before the database is opened: none was made (or migrated,
    // under a running server of another version).
    await assert.rejects(
      Deno.stat(`${dir}/issuer.db`),
      Deno.errors.NotFound,
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});
