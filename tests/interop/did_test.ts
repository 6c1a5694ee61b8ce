/**
 * Interoperability of the issuer's DIDs with `did-resolver` (the DIF
 * resolver interface): `did:agent` DIDs resolve through a small method
 * driver that fetches `/v1/agents/{did}/did.json` from the issuer (see
 * docs/did-method.md), and the issuer's own `did:web` document, fetched as
 * the did:web method's read operation prescribes, carries exactly the JWKS
 * keys. The checks are W3C DID Core's shape and the binding of each DID to
 * its key, verified with keys read from files as a user has them.
 */
import assert from "node:assert/strict";
import {
  type DIDDocument,
  type DIDResolutionResult,
  type DIDResolver,
  parse,
  Resolver,
  type VerificationMethod,
} from "did-resolver";
import * as jose from "jose";
import { DOMAIN, type Fixture, withIssuer } from "./fixture.ts";

const DID_CORE_CONTEXT = "https://www.w3.org/ns/did/v1";

function failed(error: string, message: string): DIDResolutionResult {
  return {
    didResolutionMetadata: { error, message },
    didDocument: null,
    didDocumentMetadata: {},
  };
}

/**
 * A `did:agent` method driver: the issuer that registered the agent serves
 * the DID document; a deactivated DID answers `410 Gone` with a DID
 * resolution result (document metadata `deactivated: true`).
 */
function agentDidResolver(issuer: string): DIDResolver {
  return async (_did, parsed) => {
    const response = await fetch(`${issuer}/v1/agents/${parsed.did}/did.json`, {
      headers: { accept: "application/did+json" },
    });
    if (response.status === 410) {
      const result = await response.json();
      return {
        didResolutionMetadata: { contentType: "application/did+json" },
        didDocument: result.didDocument,
        didDocumentMetadata: result.didDocumentMetadata,
      };
    }
    if (!response.ok) {
      const body = await response.json() as Record<string, string>;
      return failed(
        response.status === 404 ? "notFound" : "invalidDid",
        `${body.error_code}: ${body.error_description}`,
      );
    }
    const document = await response.json() as DIDDocument;
    return {
      didResolutionMetadata: {
        contentType: response.headers.get("content-type") ?? undefined,
      },
      didDocument: document,
      didDocumentMetadata: {},
    };
  };
}

/**
 * The did:web read operation (did:web method spec §3.2): `:` becomes `/`,
 * the percent-encoded port is decoded, and a bare host gets
 * `/.well-known`, then `/did.json`. The spec says https; an issuer on
 * loopback for tests speaks http, which is the one liberty taken here.
 */
function didWebUrl(did: string, scheme: "https" | "http"): string {
  const [host, ...path] = did.replace(/^did:web:/, "").split(":");
  const segments = path.length === 0
    ? [".well-known"]
    : path.map(decodeURIComponent);
  return `${scheme}://${decodeURIComponent(host!)}/${
    [...segments, "did.json"].join("/")
  }`;
}

const webDidResolver: DIDResolver = async (_did, parsed) => {
  const response = await fetch(didWebUrl(parsed.did, "http"), {
    headers: { accept: "application/did+json" },
  });
  if (!response.ok) {
    await response.body?.cancel();
    return failed("notFound", `HTTP ${response.status}`);
  }
  return {
    didResolutionMetadata: {
      contentType: response.headers.get("content-type") ?? undefined,
    },
    didDocument: await response.json() as DIDDocument,
    didDocumentMetadata: {},
  };
};

function resolverFor(fx: Fixture): Resolver {
  return new Resolver({
    agent: agentDidResolver(fx.issuer),
    web: webDidResolver,
  });
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The agent's keys as its owner has them: the PKCS#8 PEM file. */
async function agentKeysFromFile(
  fx: Fixture,
): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pem = await Deno.readTextFile(fx.agent.keyFile);
  const extractable = await jose.importPKCS8(pem, "EdDSA", {
    extractable: true,
  });
  const { x, kty, crv } = await crypto.subtle.exportKey("jwk", extractable);
  return {
    privateKey: await jose.importPKCS8(pem, "EdDSA"),
    publicJwk: { kty, crv, x },
  };
}

function methodFor(
  document: DIDDocument,
  reference: string,
): VerificationMethod {
  const method = document.verificationMethod?.find((m) => m.id === reference);
  assert.ok(method, `no verification method ${reference}`);
  return method;
}

Deno.test("did-resolver: a did:agent DID resolves to a DID Core document bound to the agent's key", async () => {
  await withIssuer(["reports:read"], async (fx) => {
    const did = fx.agent.did;
    // W3C DID Core §3.1 syntax, as did-resolver's parser reads it.
    const parsed = parse(did);
    assert.ok(parsed);
    assert.equal(parsed.method, "agent");
    assert.equal(parsed.did, did);
    const [domain, id] = parsed.id.split(":");
    assert.equal(domain, DOMAIN);
    assert.match(id!, /^[0-9a-f]{32}$/);

    const result = await resolverFor(fx).resolve(did);
    assert.equal(result.didResolutionMetadata.error, undefined);
    assert.match(
      result.didResolutionMetadata.contentType ?? "",
      /^application\/did\+json/,
    );
    assert.deepEqual(result.didDocumentMetadata, {});
    const document = result.didDocument!;
    assert.ok(document["@context"]?.includes(DID_CORE_CONTEXT));
    assert.equal(document.id, did);
    assert.equal(document.controller, did);
    assert.equal(document.verificationMethod?.length, 1);
    const [method] = document.verificationMethod!;
    assert.ok(method!.id.startsWith(`${did}#`));
    assert.equal(method!.type, "JsonWebKey2020");
    assert.equal(method!.controller, did);
    assert.equal(method!.publicKeyJwk?.kty, "OKP");
    assert.equal(method!.publicKeyJwk?.crv, "Ed25519");
    assert.equal(method!.publicKeyJwk?.d, undefined, "no private part");
    assert.deepEqual(document.authentication, [method!.id]);
    assert.deepEqual(document.assertionMethod, [method!.id]);

    // Dereferencing the DID URL of the key leads to the same method.
    const byUrl = await resolverFor(fx).resolve(method!.id);
    assert.deepEqual(methodFor(byUrl.didDocument!, method!.id), method);

    // The document's key is the one in the agent's key file…
    const own = await agentKeysFromFile(fx);
    assert.equal(method!.publicKeyJwk?.x, own.publicJwk.x);
    // …it verifies what the agent signs, and nothing else…
    const message = new TextEncoder().encode(`proof for ${did}`);
    const jws = await new jose.CompactSign(message)
      .setProtectedHeader({ alg: "EdDSA", kid: method!.id })
      .sign(own.privateKey);
    const documentKey = await jose.importJWK(method!.publicKeyJwk!, "EdDSA");
    const verified = await jose.compactVerify(jws, documentKey, {
      algorithms: ["EdDSA"],
    });
    assert.deepEqual(verified.payload, message);
    assert.equal(verified.protectedHeader.kid, method!.id);
    const [header, , signature] = jws.split(".");
    const forged = `${header}.${jose.base64url.encode("other")}.${signature}`;
    await assert.rejects(
      jose.compactVerify(forged, documentKey, { algorithms: ["EdDSA"] }),
      jose.errors.JWSSignatureVerificationFailed,
    );
    // …and the DID's hex part is the first 16 bytes of SHA-256(raw key).
    const raw = Uint8Array.from(
      jose.base64url.decode(method!.publicKeyJwk!.x!),
    );
    assert.equal(raw.length, 32);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", raw));
    assert.equal(id, hex(digest.slice(0, 16)));
  });
});

Deno.test("did-resolver: unknown and malformed did:agent DIDs fail resolution with DID Core errors", async () => {
  await withIssuer(["reports:read"], async (fx) => {
    const resolver = resolverFor(fx);
    const unknown = await resolver.resolve(
      `did:agent:${DOMAIN}:${"0".repeat(32)}`,
    );
    assert.equal(unknown.didResolutionMetadata.error, "notFound");
    assert.equal(unknown.didDocument, null);

    const malformed = await resolver.resolve(
      `did:agent:${DOMAIN}:${"A".repeat(32)}`,
    );
    assert.equal(malformed.didResolutionMetadata.error, "invalidDid");

    const otherMethod = await resolver.resolve("did:example:123");
    assert.equal(
      otherMethod.didResolutionMetadata.error,
      "unsupportedDidMethod",
    );
  });
});

Deno.test("did-resolver: a revoked agent's DID resolves as deactivated; a suspended one does not", async () => {
  await withIssuer(["reports:read"], async (fx) => {
    const operator = {
      privateKey: fx.operator.privateKey,
      kid: fx.operator.id,
    };
    const resolver = resolverFor(fx);

    await fx.client.changeAgentStatus(
      fx.agent.did,
      "suspend",
      "audit",
      operator,
    );
    const suspended = await resolver.resolve(fx.agent.did);
    assert.deepEqual(suspended.didDocumentMetadata, {});
    assert.equal(
      (suspended.didDocument as Record<string, unknown>).deactivated,
      undefined,
    );

    await fx.client.changeAgentStatus(
      fx.agent.did,
      "revoke",
      "key compromised",
      operator,
    );
    const revoked = await resolver.resolve(fx.agent.did);
    assert.equal(revoked.didDocumentMetadata.deactivated, true);
    // The document stays resolvable, so old signatures can still be audited.
    assert.equal(revoked.didDocument?.id, fx.agent.did);
    assert.equal(revoked.didDocument?.verificationMethod?.length, 1);
  });
});

Deno.test("did:web: the issuer's /.well-known/did.json holds exactly the JWKS keys, which verify its tokens", async () => {
  await withIssuer(["reports:read"], async (fx) => {
    const issuer = new URL(fx.issuer);
    const did = `did:web:${encodeURIComponent(issuer.host)}`;
    assert.equal(didWebUrl(did, "http"), `${fx.issuer}/.well-known/did.json`);

    const result = await resolverFor(fx).resolve(did);
    assert.equal(result.didResolutionMetadata.error, undefined);
    assert.match(
      result.didResolutionMetadata.contentType ?? "",
      /^application\/did\+json/,
    );
    const document = result.didDocument!;
    assert.ok(document["@context"]?.includes(DID_CORE_CONTEXT));
    assert.equal(document.id, did);

    const jwksResponse = await fetch(`${fx.issuer}/.well-known/jwks.json`);
    const jwks = await jwksResponse.json() as { keys: jose.JWK[] };
    const methods = document.verificationMethod ?? [];
    assert.ok(jwks.keys.length > 0);
    assert.deepEqual(
      methods.map((m) => ({ id: m.id, x: m.publicKeyJwk?.x })).sort(byId),
      jwks.keys.map((k) => ({ id: `${did}#${k.kid}`, x: k.x })).sort(byId),
    );
    for (const method of methods) {
      assert.equal(method.type, "JsonWebKey2020");
      assert.equal(method.controller, did);
      assert.equal(method.publicKeyJwk?.kty, "OKP");
      assert.equal(method.publicKeyJwk?.crv, "Ed25519");
      assert.equal(method.publicKeyJwk?.d, undefined);
      assert.ok(document.assertionMethod?.includes(method.id));
    }

    // An access token's kid names a key of the issuer's DID document.
    const { access_token } = await fx.client.issueToken(
      fx.agent.did,
      (await agentKeysFromFile(fx)).privateKey,
      { scope: "reports:read", audience: "api.interop.example" },
    );
    const { kid } = jose.decodeProtectedHeader(access_token);
    const method = methodFor(document, `${did}#${kid}`);
    const { payload } = await jose.jwtVerify(
      access_token,
      await jose.importJWK(method.publicKeyJwk!, "EdDSA"),
      {
        issuer: fx.issuer,
        audience: "api.interop.example",
        typ: "at+jwt",
        algorithms: ["EdDSA"],
      },
    );
    assert.equal(payload.sub, fx.agent.did);
  });
});

function byId(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
