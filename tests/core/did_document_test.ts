import assert from "node:assert/strict";
import { didDocument } from "../../src/core/did_document.ts";

const DID = "did:agent:example.com:0123456789abcdef0123456789abcdef";
const X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

Deno.test("didDocument: one JsonWebKey2020 method for authentication and assertions", () => {
  const document = didDocument({
    did: DID,
    publicJwk: { kty: "OKP", crv: "Ed25519", x: X, kid: "k1", alg: "EdDSA" },
  });
  assert.deepEqual(document, {
    "@context": [
      "https://www.w3.org/ns/did/v1",
      "https://w3id.org/security/suites/jws-2020/v1",
    ],
    id: DID,
    controller: DID,
    verificationMethod: [{
      id: `${DID}#key-1`,
      type: "JsonWebKey2020",
      controller: DID,
      publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: X },
    }],
    authentication: [`${DID}#key-1`],
    assertionMethod: [`${DID}#key-1`],
  });
});

Deno.test("didDocument: deactivation is metadata, never a member of the document (DID Core §7.1.3)", () => {
  const publicJwk = { kty: "OKP", crv: "Ed25519", x: X } as const;
  assert.equal("deactivated" in didDocument({ did: DID, publicJwk }), false);
});
