import assert from "node:assert/strict";
import { startDnsServer, type TestDnsServer } from "./dns_server.ts";

const resolveTxt = (server: TestDnsServer, name: string) =>
  Deno.resolveDns(name, "TXT", {
    nameServer: { ipAddr: "127.0.0.1", port: server.port },
  });

Deno.test("dns_server: serves TXT records to Deno.resolveDns", async (t) => {
  const server = await startDnsServer();
  try {
    assert.equal(server.address, `127.0.0.1:${server.port}`);
    assert.ok(server.port > 0);

    await t.step("single-string record", async () => {
      server.setTxt("one.example.test", [["hello world"]]);
      assert.deepEqual(await resolveTxt(server, "one.example.test"), [[
        "hello world",
      ]]);
    });

    await t.step("record split into two strings stays two chunks", async () => {
      server.setTxt("split.example.test", [["part1", "part2"]]);
      assert.deepEqual(await resolveTxt(server, "split.example.test"), [[
        "part1",
        "part2",
      ]]);
    });

    await t.step("trailing dot and case are ignored", async () => {
      server.setTxt("Dot.Example.Test.", [["dotted"]]);
      assert.deepEqual(await resolveTxt(server, "dot.example.test."), [[
        "dotted",
      ]]);
      assert.deepEqual(await resolveTxt(server, "DOT.example.test"), [[
        "dotted",
      ]]);
    });

    await t.step("deleted name throws Deno.errors.NotFound", async () => {
      server.setTxt("gone.example.test", [["x"]]);
      assert.deepEqual(await resolveTxt(server, "gone.example.test"), [["x"]]);
      server.deleteTxt("gone.example.test");
      await assert.rejects(
        resolveTxt(server, "gone.example.test"),
        Deno.errors.NotFound,
      );
      await assert.rejects(
        resolveTxt(server, "never.example.test"),
        Deno.errors.NotFound,
      );
    });

    await t.step("multiple records on one name all come back", async () => {
      const records = [["v=spf1 -all"], ["a", "b"], ["third"]];
      server.setTxt("multi.example.test", records);
      const got = await resolveTxt(server, "multi.example.test");
      // RRset order is not guaranteed by DNS; compare sorted.
      const key = (r: string[]) => JSON.stringify(r);
      assert.deepEqual(got.map(key).sort(), records.map(key).sort());
    });

    await t.step(
      "255-byte strings and a large answer (TCP fallback)",
      async () => {
        const max = "x".repeat(255);
        // ~7.7 KB: over any UDP payload size, so the answer arrives via TCP.
        const records = Array.from({ length: 30 }, (_, i) => [`${i}`, max]);
        server.setTxt("big.example.test", records);
        const got = await resolveTxt(server, "big.example.test");
        assert.equal(got.length, 30);
        for (const r of got) assert.equal(r[1], max);
      },
    );

    await t.step("strings over 255 bytes are rejected", () => {
      assert.throws(
        () => server.setTxt("long.example.test", [["x".repeat(256)]]),
        RangeError,
      );
    });
  } finally {
    await server.close();
  }
});
