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
}

const DID_CONTEXT = [
  "https://www.w3.org/ns/did/v1",
  "https://w3id.org/security/suites/jws-2020/v1",
];

export function didDocument(
  agent: { did: string; publicJwk: Ed25519PublicJwk },
): DidDocument {
  const keyId = `${agent.did}#key-1`;
  const document: DidDocument = {
    "@context": DID_CONTEXT,
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
  return document;
}

/**
 * The issuer's own `did:web` identifier (did:web method spec §3.2): host,
 * port percent-encoded (`%3A`), then path segments joined by `:`.
 */
export function didWebForIssuer(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.split("/").filter((s) => s !== "").map(
    encodeURIComponent,
  );
  return ["did:web", encodeURIComponent(url.host), ...path].join(":");
}

/** The issuer's DID document: every signing key, as published in the JWKS. */
export function issuerDidDocument(
  issuer: string,
  keys: readonly (Ed25519PublicJwk & { kid: string })[],
): Omit<DidDocument, "controller" | "authentication" | "verificationMethod"> & {
  verificationMethod: DidDocument["verificationMethod"];
  authentication: string[];
} {
  const did = didWebForIssuer(issuer);
  const methods = keys.map((key) => ({
    id: `${did}#${key.kid}`,
    type: "JsonWebKey2020" as const,
    controller: did,
    publicKeyJwk: { kty: "OKP" as const, crv: "Ed25519" as const, x: key.x },
  }));
  return {
    "@context": DID_CONTEXT,
    id: did,
    verificationMethod: methods,
    authentication: methods.map((m) => m.id),
    assertionMethod: methods.map((m) => m.id),
  };
}
