/**
 * `--dns-server HOST:PORT` (src/serve/dns.ts): what it accepts, and TXT
 * lookups through a real DNS server on loopback named by address or by name.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { parseNameServer, systemTxtResolver } from "../../src/serve/dns.ts";
import { startDnsServer } from "../helpers/dns_server.ts";

Deno.test("dns server: HOST:PORT takes an IPv4 address, [IPv6] or a host name", () => {
  assert.deepEqual(parseNameServer("127.0.0.1:53"), {
    host: "127.0.0.1",
    port: 53,
  });
  assert.deepEqual(parseNameServer("[::1]:5353"), { host: "::1", port: 5353 });
  assert.deepEqual(parseNameServer("localhost:53"), {
    host: "localhost",
    port: 53,
  });
  assert.deepEqual(parseNameServer("ns1.example.com:53"), {
    host: "ns1.example.com",
    port: 53,
  });
  for (
    const value of [
      "127.0.0.1",
      "localhost",
      ":53",
      "host:0",
      "host:65536",
      "a b:53",
      "-bad.example:53",
      "999.1.1.1:53",
      "[127.0.0.1]:53",
      "::1:53",
      "[zz]:53",
      "ns1.example.com:53/x",
    ]
  ) {
    assert.throws(
      () => parseNameServer(value),
      (error: unknown) =>
        error instanceof Auth4AgentError && error.code === "ERR_CONFIG",
      value,
    );
  }
});

Deno.test("dns server: TXT lookups through a server named by address or by host name", async () => {
  const dns = await startDnsServer();
  try {
    dns.setTxt("_auth4agent-challenge.example.com", [["token=abc"]]);
    for (const host of ["127.0.0.1", "localhost"]) {
      const resolve = systemTxtResolver({ host, port: dns.port });
      assert.deepEqual(
        await resolve("_auth4agent-challenge.example.com"),
        [["token=abc"]],
        host,
      );
      assert.deepEqual(await resolve("nothing.example.com"), [], host);
    }
    const unknown = systemTxtResolver({
      host: "no-such-host.invalid",
      port: dns.port,
    });
    await assert.rejects(
      unknown("_auth4agent-challenge.example.com"),
      (error: unknown) =>
        error instanceof Auth4AgentError &&
        error.code === "ERR_DNS_LOOKUP_FAILED",
    );
  } finally {
    await dns.close();
  }
});
