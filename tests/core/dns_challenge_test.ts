import assert from "node:assert/strict";
import fc from "fast-check";
import {
  dnsRecordName,
  dnsRecordValue,
  MAX_TXT_LENGTH,
  MAX_TXT_RECORDS,
  txtAnswerRefusal,
  txtRecordsContain,
} from "../../src/core/dns_challenge.ts";
import { base64url, sha256 } from "../../src/core/encoding.ts";

const THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

Deno.test("dnsRecordName is _auth4agent-challenge.<domain>", () => {
  assert.equal(
    dnsRecordName("example.com"),
    "_auth4agent-challenge.example.com",
  );
});

Deno.test("dnsRecordValue is token=base64url(SHA-256(challenge.thumbprint))", async () => {
  const value = await dnsRecordValue("c1", THUMBPRINT);
  assert.match(value, /^token=[A-Za-z0-9_-]{43}$/);
  assert.equal(
    value,
    "token=" + base64url(await sha256(`c1.${THUMBPRINT}`)),
  );
});

Deno.test("dnsRecordValue: property, it changes with the challenge and with the thumbprint", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.string(),
      fc.string(),
      fc.string(),
      async (challenge, otherChallenge, otherThumbprint) => {
        fc.pre(challenge !== otherChallenge && otherThumbprint !== THUMBPRINT);
        const value = await dnsRecordValue(challenge, THUMBPRINT);
        assert.notEqual(
          await dnsRecordValue(otherChallenge, THUMBPRINT),
          value,
        );
        assert.notEqual(
          await dnsRecordValue(challenge, otherThumbprint),
          value,
        );
      },
    ),
    { numRuns: 50 },
  );
});

Deno.test("txtRecordsContain joins split strings and ignores surrounding whitespace", async () => {
  const expected = await dnsRecordValue("c1", THUMBPRINT);
  const found = (records: string[][]) => txtRecordsContain(records, expected);
  assert.equal(found([[expected]]), true);
  assert.equal(found([["v=spf1 -all"], [expected]]), true);
  assert.equal(found([[expected.slice(0, 10), expected.slice(10)]]), true);
  assert.equal(found([[` ${expected}\t`]]), true);
  assert.equal(found([]), false);
  assert.equal(found([[]]), false);
  assert.equal(found([[expected.slice(0, -1)]]), false);
  assert.equal(found([[expected + "x"]]), false);
  assert.equal(found([[expected.slice(0, 10)], [expected.slice(10)]]), false);
  assert.equal(found([[expected.toUpperCase()]]), false);
});

Deno.test("txtRecordsContain compares every record, and caps the size of each", async () => {
  const expected = await dnsRecordValue("c1", THUMBPRINT);
  const noise = (n: number) => Array.from({ length: n }, (_, i) => [`r${i}`]);
  const records = noise(40);
  records[35] = [expected];
  assert.equal(txtRecordsContain(records, expected), true);
  assert.equal(
    txtRecordsContain([...noise(MAX_TXT_RECORDS), [expected]], expected),
    true,
  );
  const pad = (n: number) => " ".repeat(n - expected.length);
  assert.equal(
    txtRecordsContain([[pad(MAX_TXT_LENGTH), expected]], expected),
    true,
  );
  assert.equal(
    txtRecordsContain([[pad(MAX_TXT_LENGTH + 1), expected]], expected),
    false,
  );
});

Deno.test("txtAnswerRefusal: missing, too many records (refused even with a match), mismatch, or proof", async () => {
  const name = dnsRecordName("example.com");
  const expected = await dnsRecordValue("c1", THUMBPRINT);
  const noise = (n: number) => Array.from({ length: n }, (_, i) => [`r${i}`]);
  const refusal = (records: string[][]) =>
    txtAnswerRefusal(name, records, expected);

  assert.equal(refusal([])?.code, "ERR_DNS_RECORD_MISSING");
  assert.equal(refusal([["v=spf1 -all"]])?.code, "ERR_DNS_RECORD_MISMATCH");
  assert.equal(refusal([...noise(MAX_TXT_RECORDS - 1), [expected]]), undefined);

  const tooMany = noise(MAX_TXT_RECORDS + 8);
  tooMany[35] = [expected];
  const refused = refusal(tooMany);
  assert.equal(refused?.code, "ERR_DNS_RECORD_MISMATCH");
  assert.match(
    refused!.message,
    new RegExp(
      `${MAX_TXT_RECORDS + 8} TXT records, more than the ${MAX_TXT_RECORDS}`,
    ),
  );
});
