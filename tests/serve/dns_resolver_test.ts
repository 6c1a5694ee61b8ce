/**
 * The TXT resolver of domain verification (src/serve/dns.ts) against a raw
 * DNS server on loopback: what counts as "no record", what is a failed
 * lookup, and which replies and records are not ours to believe.
 */
import assert from "node:assert/strict";
import { Auth4AgentError } from "../../src/core/errors.ts";
import {
  parseResolvConf,
  sameAddress,
  systemTxtResolver,
  type TxtResolver,
} from "../../src/serve/dns.ts";
import {
  DNS_RCODE,
  DNS_TYPE,
  dnsName,
  type RawHandler,
  type RawQuery,
  rawReply,
  startDnsServer,
  startRawDnsServer,
  txtRdata,
} from "../helpers/dns_server.ts";
import {
  assertError,
  assertOk,
  registerOperator,
  signedRequest,
  withFixture,
} from "./helpers.ts";

const NAME = "_auth4agent-challenge.example.com";

const txt = (name: string, ...strings: string[]) => ({
  name,
  type: DNS_TYPE.TXT,
  rdata: txtRdata(strings),
});

async function withRawServer(
  handler: RawHandler,
  body: (resolve: TxtResolver, queries: RawQuery[]) => Promise<void>,
) {
  const server = await startRawDnsServer(handler);
  try {
    await body(
      systemTxtResolver({ host: "127.0.0.1", port: server.port }),
      server.queries,
    );
  } finally {
    await server.close();
  }
}

const lookupFailed = (error: unknown) =>
  error instanceof Auth4AgentError && error.code === "ERR_DNS_LOOKUP_FAILED";

Deno.test("dns resolver: NXDOMAIN and NODATA are no records; SERVFAIL, REFUSED, FORMERR, NOTIMP are ERR_DNS_LOOKUP_FAILED", async () => {
  for (const rcode of ["NXDOMAIN", "NOERROR"] as const) {
    await withRawServer(
      (q) => rawReply(q, { rcode: DNS_RCODE[rcode] }),
      async (resolve) => assert.deepEqual(await resolve(NAME), [], rcode),
    );
  }
  for (const rcode of ["SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"] as const) {
    await withRawServer(
      (q) => rawReply(q, { rcode: DNS_RCODE[rcode] }),
      async (resolve) => {
        await assert.rejects(resolve(NAME), (error: unknown) => {
          assert.ok(lookupFailed(error), `${rcode}: ${error}`);
          assert.match((error as Error).message, new RegExp(rcode));
          return true;
        });
      },
    );
  }
});

Deno.test("dns resolver: verify answers 503 ERR_DNS_LOOKUP_FAILED, not ERR_DNS_RECORD_MISSING, when the server fails", async () => {
  await withRawServer(
    (q) => rawReply(q, { rcode: DNS_RCODE.SERVFAIL }),
    async (resolve) => {
      await withFixture(async (fx) => {
        fx.deps.resolveTxt = resolve;
        const operator = await registerOperator(fx);
        const path = `/v1/operators/${operator.id}/verify`;
        const { response } = await signedRequest(
          fx,
          "POST",
          path,
          {},
          operator.signer,
        );
        await assertError(response, 503, "ERR_DNS_LOOKUP_FAILED");
        const status = await assertOk(
          (await signedRequest(
            fx,
            "GET",
            `/v1/operators/${operator.id}/dns-record`,
            undefined,
            operator.signer,
          )).response,
        );
        assert.equal(status.verified, false);
      });
    },
  );
});

Deno.test("dns resolver: asks the name exactly, once, over UDP; case and a trailing dot do not matter", async () => {
  await withRawServer(
    (q) => rawReply(q, { answers: [txt(q.name, "token=abc")] }),
    async (resolve, queries) => {
      assert.deepEqual(await resolve(NAME), [["token=abc"]]);
      assert.deepEqual(await resolve(`${NAME}.`), [["token=abc"]]);
      assert.deepEqual(
        queries.map((q) => q.name),
        [NAME, NAME],
      );
    },
  );
  await withRawServer(
    (q) => rawReply(q, { answers: [txt(NAME.toUpperCase(), "token=abc")] }),
    async (resolve) => assert.deepEqual(await resolve(NAME), [["token=abc"]]),
  );
});

Deno.test("dns resolver: records for another name, type or class are ignored", async () => {
  await withRawServer(
    (q) =>
      rawReply(q, {
        answers: [
          txt("_auth4agent-challenge.evil.com", "token=other-name"),
          {
            name: q.name,
            type: DNS_TYPE.A,
            rdata: new Uint8Array([1, 2, 3, 4]),
          },
          { ...txt(q.name, "token=chaos"), class: 3 },
        ],
      }),
    async (resolve) => assert.deepEqual(await resolve(NAME), []),
  );
});

Deno.test("dns resolver: a reply with another ID or question is dropped, the real one is taken", async () => {
  await withRawServer(
    (q) => [
      rawReply(q, {
        id: (q.id + 1) & 0xffff,
        answers: [txt(q.name, "token=forged-id")],
      }),
      rawReply(q, {
        question: new Uint8Array([
          ...dnsName("other.example.com"),
          0,
          16,
          0,
          1,
        ]),
        answers: [txt("other.example.com", "token=forged-question")],
      }),
      rawReply(q, { answers: [txt(q.name, "token=real")] }),
    ],
    async (resolve) => assert.deepEqual(await resolve(NAME), [["token=real"]]),
  );
});

Deno.test("dns resolver: a truncated UDP reply is asked again over TCP", async () => {
  await withRawServer(
    (q) =>
      q.transport === "udp"
        ? rawReply(q, {
          truncated: true,
          answers: [txt(q.name, "token=partial")],
        })
        : rawReply(q, { answers: [txt(q.name, "a"), txt(q.name, "b")] }),
    async (resolve, queries) => {
      assert.deepEqual(await resolve(NAME), [["a"], ["b"]]);
      assert.deepEqual(
        queries.map((q) => q.transport),
        ["udp", "tcp"],
      );
    },
  );
});

Deno.test("dns resolver: a reply with a malformed TXT record, or more than 64 answers, is a server failure: the lookup asks again", async () => {
  const malformed = (q: RawQuery) =>
    rawReply(q, {
      answers: [{
        name: q.name,
        type: DNS_TYPE.TXT,
        rdata: new Uint8Array([50, 65]), // a 50-byte string with 1 byte
      }],
    });
  const tooMany = (q: RawQuery) =>
    rawReply(q, {
      answers: Array.from({ length: 65 }, (_, i) => txt(q.name, `r${i}`)),
    });
  for (const bad of [malformed, tooMany]) {
    let asked = 0;
    await withRawServer(
      (q) =>
        ++asked === 1 ? bad(q) : rawReply(q, { answers: [txt(q.name, "ok")] }),
      async (resolve, queries) => {
        assert.deepEqual(await resolve(NAME), [["ok"]]);
        assert.equal(queries.length, 2);
      },
    );
  }
});

Deno.test("dns resolver: a reply comes from the server's address, an IPv6 zone aside", () => {
  assert.ok(sameAddress("fe80::1", "fe80::1%eth0"));
  assert.ok(sameAddress("::1", "0:0:0:0:0:0:0:1"));
  assert.ok(!sameAddress("fe80::2", "fe80::1%eth0"));
  assert.ok(!sameAddress("127.0.0.2", "127.0.0.1"));
});

Deno.test("dns resolver: a CNAME chain is followed, in the reply or by asking for its target", async () => {
  const cname = (from: string, to: string) => ({
    name: from,
    type: DNS_TYPE.CNAME,
    rdata: dnsName(to),
  });
  await withRawServer(
    (q) =>
      rawReply(q, {
        answers: [
          cname(q.name, "target.other.net"),
          txt("target.other.net", "token=via-cname"),
        ],
      }),
    async (resolve) =>
      assert.deepEqual(await resolve(NAME), [["token=via-cname"]]),
  );
  await withRawServer(
    (q) =>
      q.name === NAME
        ? rawReply(q, { answers: [cname(q.name, "target.other.net")] })
        : rawReply(q, { answers: [txt(q.name, "token=asked")] }),
    async (resolve, queries) => {
      assert.deepEqual(await resolve(NAME), [["token=asked"]]);
      assert.deepEqual(queries.map((q) => q.name), [NAME, "target.other.net"]);
    },
  );
});

Deno.test("dns resolver: a server that never answers is ERR_DNS_LOOKUP_FAILED within the lookup deadline", async () => {
  await withRawServer(() => null, async (resolve) => {
    const started = Date.now();
    await assert.rejects(resolve(NAME), lookupFailed);
    assert.ok(Date.now() - started < 6000);
  });
});

Deno.test("dns resolver: the record of the longest accepted domain (231 characters) is looked up", async () => {
  const label63 = "a".repeat(63);
  const domain = [label63, label63, label63, "b".repeat(39)].join(".");
  assert.equal(domain.length, 231);
  const server = await startDnsServer();
  try {
    server.setTxt(`_auth4agent-challenge.${domain}`, [["token=long"]]);
    const resolve = systemTxtResolver({ host: "127.0.0.1", port: server.port });
    assert.deepEqual(
      await resolve(`_auth4agent-challenge.${domain}`),
      [["token=long"]],
    );
  } finally {
    await server.close();
  }
});

Deno.test("dns resolver: resolv.conf gives name servers only; search, domain and options do not apply", () => {
  const conf = [
    "# generated",
    "search corp.test other.test",
    "domain corp.test",
    "options ndots:5 timeout:1",
    "nameserver 10.0.0.53 ; primary",
    "nameserver ::1",
    "nameserver not-an-ip",
    "nameserver 10.0.0.54",
    "nameserver 10.0.0.55",
  ].join("\n");
  assert.deepEqual(parseResolvConf(conf), [
    { ipAddr: "10.0.0.53", port: 53 },
    { ipAddr: "::1", port: 53 },
    { ipAddr: "10.0.0.54", port: 53 },
  ]);
  assert.deepEqual(parseResolvConf("search corp.test\n"), []);
});
