/**
 * W3C DID Core documents for `did:agent` identifiers: one Ed25519
 * verification method (JsonWebKey2020 with `publicKeyJwk`), usable for
 * authentication and assertions. See docs/did-method.md.
 */
import type { Ed25519PublicJwk } from "./keys.ts";

export interface DidDocument {
  "@context": string[];
  id: string;
  controller: string;
  verificationMethod: {
    id: string;
    type: "JsonWebKey2020";
    controller: string;
    publicKeyJwk: Ed25519PublicJwk;
  }[];
  authentication: string[];
  assertionMethod: string[];
  deactivated?: boolean;
}

export function didDocument(
  agent: { did: string; publicJwk: Ed25519PublicJwk; status?: string },
): DidDocument {
  const keyId = `${agent.did}#key-1`;
  const document: DidDocument = {
    "@context": [
      "https://www.w3.org/ns/did/v1",
      "https://w3id.org/security/suites/jws-2020/v1",
    ],
    id: agent.did,
    controller: agent.did,
    verificationMethod: [{
      id: keyId,
      type: "JsonWebKey2020",
      controller: agent.did,
      publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: agent.publicJwk.x },
    }],
    authentication: [keyId],
    assertionMethod: [keyId],
  };
  if (agent.status === "revoked") document.deactivated = true;
  return document;
}
