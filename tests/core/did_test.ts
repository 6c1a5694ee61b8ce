import assert from "node:assert/strict";
import fc from "fast-check";
import {
  agentIdFromKey,
  didForKey,
  didMatchesKey,
  parseAgentDid,
} from "../../src/core/did.ts";
import { base64url, fromBase64url, hex } from "../../src/core/encoding.ts";
import { Auth4AgentError } from "../../src/core/errors.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { code } from "./_helpers.ts";

const JWK = {
  kty: "OKP",
  crv: "Ed25519",
  x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
} as const;
const ID = "0123456789abcdef0123456789abcdef";

Deno.test("didForKey: did:agent:<domain>:<first 16 bytes of SHA-256 of the raw key>", async () => {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", fromBase64url(JWK.x)),
  );
  const expected = `did:agent:example.com:${hex(digest.slice(0, 16))}`;
  assert.equal(await didForKey("Example.COM.", JWK), expected);
  assert.equal(await agentIdFromKey(JWK), expected.slice(-32));
  assert.match(expected, /^did:agent:example\.com:[0-9a-f]{32}$/);
  await assert.rejects(didForKey("localhost", JWK), code("ERR_INVALID_DOMAIN"));
});

Deno.test("parseAgentDid splits a good DID into domain and id", () => {
  const did = `did:agent:api.example.co.uk:${ID}`;
  assert.deepEqual(parseAgentDid(did), {
    did,
    domain: "api.example.co.uk",
    id: ID,
  });
});

Deno.test("parseAgentDid refuses other shapes and methods", () => {
  const refused = [
    "",
    `did:agent:example.com:${ID.toUpperCase()}`,
    `did:agent:example.com:${ID.slice(1)}`,
    `did:agent:example.com:${ID}0`,
    `did:agent:example.com:${ID.slice(1)}g`,
    `did:agent:example.com:${ID}\n`,
    ` did:agent:example.com:${ID}`,
    `DID:agent:example.com:${ID}`,
    `did:Agent:example.com:${ID}`,
    `did:agent::${ID}`,
    `did:agent:example.com:extra:${ID}`,
    `did:agent:Example.com:${ID}`, // the domain must already be canonical
    `did:agent:example.com.:${ID}`,
    "did:web:example.com",
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    `did:agent:example.com:${ID}${"0".repeat(300)}`,
  ];
  for (const input of refused) {
    assert.throws(() => parseAgentDid(input), code("ERR_INVALID_DID"), input);
  }
  assert.throws(
    () => parseAgentDid(undefined as unknown as string),
    code("ERR_INVALID_DID"),
  );
});

Deno.test("parseAgentDid refuses a DID with a bad domain as ERR_INVALID_DID", () => {
  const domains = [
    "localhost",
    "127.0.0.1",
    "10.0.0.1",
    "a_b.com",
    "-bad.com",
    "a..com",
    "example.0x1",
  ];
  for (const domain of domains) {
    assert.throws(
      () => parseAgentDid(`did:agent:${domain}:${ID}`),
      code("ERR_INVALID_DID"),
      domain,
    );
  }
});

Deno.test("didMatchesKey is true for the DID's own key only", async () => {
  const mine = await generateKeyPair();
  const other = await generateKeyPair();
  const did = parseAgentDid(await didForKey("example.com", mine.publicJwk));
  assert.equal(await didMatchesKey(did, mine.publicJwk), true);
  assert.equal(await didMatchesKey(did, other.publicJwk), false);
});

Deno.test("parseAgentDid: property, arbitrary input only ever throws ERR_INVALID_DID", () => {
  const didLike = fc.tuple(
    fc.constantFrom("did:agent:", "did:web:", "did:agent", ""),
    fc.string({ unit: fc.constantFrom(..."abcXYZ019.-:_\u212A") }),
    fc.constantFrom(":", "::", ""),
    fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEFg") }),
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(fc.string(), didLike), (input) => {
      try {
        const parsed = parseAgentDid(input);
        assert.equal(parsed.did, input);
        assert.equal(`did:agent:${parsed.domain}:${parsed.id}`, input);
      } catch (error) {
        assert.ok(error instanceof Auth4AgentError, String(error));
        assert.equal(error.code, "ERR_INVALID_DID");
      }
    }),
    { numRuns: 1000 },
  );
});

Deno.test("parseAgentDid: property, DIDs made by didForKey round-trip", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.domain(),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      async (domain, raw) => {
        const jwk = { kty: "OKP", crv: "Ed25519", x: base64url(raw) } as const;
        let did: string;
        try {
          did = await didForKey(domain, jwk);
        } catch (error) {
          assert.ok(error instanceof Auth4AgentError);
          assert.equal(error.code, "ERR_INVALID_DOMAIN");
          return;
        }
        const parsed = parseAgentDid(did);
        assert.equal(parsed.domain, domain.toLowerCase());
        assert.equal(await didMatchesKey(parsed, jwk), true);
      },
    ),
    { numRuns: 50 },
  );
});
