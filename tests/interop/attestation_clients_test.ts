/**
 * Client attestation (draft-ietf-oauth-attestation-based-client-auth) with
 * software nobody here wrote: Animo's openid4vc-ts (`@openid4vc/oauth2`),
 * used unchanged through its public API, against the real issuer on a
 * loopback socket that trusts one attester (`serve --client-attester URL`).
 *
 * - The attester (a fake platform serving OpenID discovery and its JWKS over
 *   real HTTP) signs the Client Attestation JWT with the library's
 *   `createClientAttestationJwt`: `iss` its own URL, `sub` the agent's DID,
 *   `cnf.jwk` the agent instance's key.
 * - The instance makes the Client Attestation PoP JWT with the library's
 *   `clientAuthenticationClientAttestationJwt` (the package's only public
 *   way to make one: `createClientAttestationPopJwt` is not exported), whose
 *   audience is the `issuer` of the metadata the library itself discovered.
 * - The token request is plain `fetch`, with the agent's own
 *   `private_key_jwt` client assertion (jose) and the two headers as the
 *   library set them; and once sent by the library's own `Oauth2Client`,
 *   with its DPoP proof too.
 *
 * The library's only configuration is what is legitimately optional: its
 * `allowInsecureUrls` switch for plain http on loopback (it requires an
 * https `aud` otherwise). Its `signJwt` callback is jose; its
 * `generateRandom` is `crypto.getRandomValues`.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import {
  type AuthorizationServerMetadata,
  type ClientAuthenticationCallbackOptions,
  clientAuthenticationClientAttestationJwt,
  createClientAttestationJwt,
  fetchAuthorizationServerMetadata,
  type GenerateRandomCallback,
  HashAlgorithm,
  type HashCallback,
  type Jwk,
  Oauth2Client,
  setGlobalConfig,
  type SignJwtCallback,
} from "@openid4vc/oauth2";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import { didForKey } from "../../src/core/did.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import { resolveServeConfig } from "../../src/serve/config.ts";
import { type RunningServer, startServer } from "../../src/serve/server.ts";
import {
  type FakePlatform,
  startFakePlatform,
} from "../helpers/fake_platform.ts";
import { DOMAIN } from "./fixture.ts";

// The library's own switch for http URLs (the loopback issuer's identifier
// and token endpoint); everything else is its default.
setGlobalConfig({ allowInsecureUrls: true });

const SCOPES = ["reports:read"];
const CLIENT_ASSERTION_TYPE =
  "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const ATTESTATION = "OAuth-Client-Attestation";
const POP = "OAuth-Client-Attestation-PoP";
/** The library's ContentType enum value (the enum is not exported). */
type ContentType = ClientAuthenticationCallbackOptions["contentType"];
const FORM = "application/x-www-form-urlencoded" as ContentType;

/** The issuer, trusting `attester`, with a verified operator and one agent. */
interface Issuer {
  issuer: string;
  did: string;
  /** The agent's own key (its DID's), for its client assertions. */
  agentKey: CryptoKey;
  server: RunningServer;
  dir: string;
}

/**
 * As tests/interop/fixture.ts starts the issuer, plus what `serve
 * --client-attester URL` configures (that fixture takes no attester).
 */
async function startIssuer(attester: string): Promise<Issuer> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-interop-attest-" });
  const txt = new Map<string, string[][]>();
  const config = resolveServeConfig(
    {
      host: "127.0.0.1",
      port: "0",
      db: `${dir}/issuer.db`,
      rateLimit: "0",
      clientAttester: [attester],
    },
    () => undefined,
  );
  const server = await startServer(config, {
    resolveTxt: (name) => Promise.resolve(txt.get(name) ?? []),
    log: () => {},
  });
  try {
    const client = new IssuerClient(server.issuer);
    const operatorKeys = await generateKeyPair();
    const { operator_id } = await client.registerOperator(
      DOMAIN,
      operatorKeys,
    );
    const signer = { privateKey: operatorKeys.privateKey, kid: operator_id };
    const { dns_record } = await client.dnsRecord(operator_id, signer);
    txt.set(dns_record.name, [[dns_record.value]]);
    assert.ok((await client.verifyDomain(operator_id, signer)).verified);

    const agentKeys = await generateKeyPair();
    const did = await didForKey(DOMAIN, agentKeys.publicJwk);
    await client.registerAgent(did, operator_id, agentKeys);
    await client.setAgentScopes(did, SCOPES, signer);
    const agentKey = await jose.importPKCS8(agentKeys.pem, "EdDSA");
    return { issuer: server.issuer, did, agentKey, server, dir };
  } catch (error) {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

/**
 * The attester: a fake platform on 127.0.0.1 whose JWKS publishes the public
 * half of a key held here, for the library's signJwt callback to sign with.
 */
interface Attester {
  platform: FakePlatform;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: jose.JWK;
}

type Alg = "ES256" | "EdDSA" | "Ed25519";

async function startAttester(alg: Alg): Promise<Attester> {
  // Its own generated key is replaced by ours below.
  const platform = await startFakePlatform({ alg: "ES256" });
  const { privateKey, publicKey } = await jose.generateKeyPair(alg);
  const publicJwk = { ...await jose.exportJWK(publicKey), use: "sig" };
  // One key, no kid: the library's "custom" signer puts none in the header,
  // and our server then takes the attester's only key of that alg.
  platform.setKeys([publicJwk]);
  return { platform, alg, privateKey, publicJwk };
}

/** An instance key as a wallet-style client holds it: the private half stays in WebCrypto. */
interface InstanceKey {
  privateKey: CryptoKey;
  publicJwk: jose.JWK;
  thumbprint: string;
}

async function instanceKey(alg: Alg): Promise<InstanceKey> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg);
  const publicJwk = await jose.exportJWK(publicKey);
  return {
    privateKey,
    publicJwk,
    thumbprint: await jose.calculateJwkThumbprint(publicJwk),
  };
}

/**
 * The library's signJwt callback, with jose: a `jwk` signer is looked up by
 * its public key's RFC 7638 thumbprint among the keys held; a
 * `custom` signer is the attester's key. The header and payload are signed
 * exactly as the library built them.
 */
function joseSigner(
  options: { held?: InstanceKey[]; attester?: Attester },
): SignJwtCallback {
  return async (signer, { header, payload }) => {
    let privateKey: CryptoKey;
    let signerJwk: Jwk;
    if (signer.method === "jwk") {
      const thumbprint = await jose.calculateJwkThumbprint(
        signer.publicJwk as jose.JWK,
      );
      const key = options.held?.find((key) => key.thumbprint === thumbprint);
      if (!key) throw new Error(`no key ${thumbprint} is held`);
      privateKey = key.privateKey;
      signerJwk = signer.publicJwk;
    } else if (signer.method === "custom" && options.attester) {
      privateKey = options.attester.privateKey;
      signerJwk = options.attester.publicJwk as Jwk;
    } else {
      throw new Error(`no key for a ${signer.method} signer`);
    }
    const jwt = await new jose.SignJWT(payload as jose.JWTPayload)
      .setProtectedHeader(header as jose.JWTHeaderParameters)
      .sign(privateKey);
    return { jwt, signerJwk };
  };
}

const generateRandom: GenerateRandomCallback = (byteLength) =>
  crypto.getRandomValues(new Uint8Array(byteLength));

/** The library's hash callback (for DPoP), with WebCrypto. */
const hash: HashCallback = async (data, alg) =>
  new Uint8Array(
    await crypto.subtle.digest(
      {
        [HashAlgorithm.Sha256]: "SHA-256",
        [HashAlgorithm.Sha384]: "SHA-384",
        [HashAlgorithm.Sha512]: "SHA-512",
      }[alg],
      data as Uint8Array<ArrayBuffer>,
    ),
  );

/** The agent's own client authentication (RFC 7523 private_key_jwt), with jose. */
async function clientAssertion(fx: Issuer): Promise<string> {
  return await new jose.SignJWT({})
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT" })
    .setIssuer(fx.did)
    .setSubject(fx.did)
    .setAudience(fx.issuer)
    .setJti(crypto.randomUUID())
    .setIssuedAt()
    .setExpirationTime("60s")
    .sign(fx.agentKey);
}

/** The attester's job, done with the library: attest `instance` as the agent's. */
async function attest(
  attester: Attester,
  did: string,
  instance: InstanceKey,
): Promise<string> {
  const now = new Date();
  return await createClientAttestationJwt({
    issuer: attester.platform.issuer,
    clientId: did,
    issuedAt: now,
    expiresAt: new Date(now.getTime() + 3_600_000),
    confirmation: { jwk: instance.publicJwk as Jwk },
    signer: { method: "custom", alg: attester.alg },
    callbacks: { signJwt: joseSigner({ attester }) },
  });
}

/**
 * The instance's job, done with the library: its client authentication
 * callback sets both headers, the PoP's `aud` being the discovered issuer.
 */
async function attestationHeaders(
  metadata: AuthorizationServerMetadata,
  attestation: string,
  instances: InstanceKey[],
): Promise<Headers> {
  const headers = new Headers();
  const body: Record<string, unknown> = { grant_type: "client_credentials" };
  await clientAuthenticationClientAttestationJwt({
    clientAttestationJwt: attestation,
    callbacks: { signJwt: joseSigner({ held: instances }), generateRandom },
  })({
    authorizationServerMetadata: metadata,
    url: metadata.token_endpoint,
    method: "POST",
    headers,
    contentType: FORM,
    body,
  });
  // It sets the two headers and nothing else: the agent still
  // authenticates itself.
  assert.deepEqual([...headers.keys()].sort(), [
    ATTESTATION.toLowerCase(),
    POP.toLowerCase(),
  ]);
  assert.deepEqual(body, { grant_type: "client_credentials" });
  return headers;
}

/** Client credentials by plain fetch: the agent's private_key_jwt, plus `headers`. */
async function tokenRequest(
  fx: Issuer,
  metadata: AuthorizationServerMetadata,
  headers: Headers,
): Promise<Response> {
  const assertion = await clientAssertion(fx);
  const sent = new Headers(headers);
  sent.set("Content-Type", "application/x-www-form-urlencoded");
  return await fetch(metadata.token_endpoint, {
    method: "POST",
    headers: sent,
    body: new URLSearchParams({
      grant_type: "client_credentials",
      scope: "reports:read",
      client_assertion_type: CLIENT_ASSERTION_TYPE,
      client_assertion: assertion,
    }),
  });
}

async function refused(response: Response, error: string): Promise<string> {
  const answer = await response.json();
  assert.equal(response.status, 400, JSON.stringify(answer));
  assert.equal(answer.error, error, JSON.stringify(answer));
  return answer.error_description as string;
}

async function withAttestedIssuer(
  alg: Alg,
  body: (
    fx: Issuer,
    attester: Attester,
    metadata: AuthorizationServerMetadata,
  ) => Promise<void>,
): Promise<void> {
  const attester = await startAttester(alg);
  try {
    const fx = await startIssuer(attester.platform.issuer);
    try {
      // RFC 8414 discovery by the library itself.
      const metadata = await fetchAuthorizationServerMetadata(fx.issuer);
      assert.ok(metadata);
      assert.equal(metadata.issuer, fx.issuer);
      await body(fx, attester, metadata);
    } finally {
      await fx.server.shutdown();
      await Deno.remove(fx.dir, { recursive: true });
    }
  } finally {
    await attester.platform.close();
  }
}

// The library signs the PoP with the attestation's `alg` (it copies the
// attestation header's alg for the instance key), so the attester and the
// instance key are of one kind: P-256, or Ed25519 (as "EdDSA", or as the
// fully specified "Ed25519" of RFC 9864).
for (
  const [alg, name] of [
    ["ES256", "an ES256 attester and a P-256 instance key"],
    ["EdDSA", "an EdDSA attester and an Ed25519 instance key"],
    ["Ed25519", "an Ed25519 (RFC 9864) attester and instance key"],
  ] as const
) {
  Deno.test(`@openid4vc/oauth2, ${name}: its attestation and PoP beside private_key_jwt give a token that says so; the PoP is taken once; another key's PoP is refused`, async () => {
    await withAttestedIssuer(alg, async (fx, attester, metadata) => {
      // Our metadata, as the library parsed it (members it does not model
      // pass through untyped).
      for (
        const member of [
          "client_attestation_signing_alg_values_supported",
          "client_attestation_pop_signing_alg_values_supported",
        ]
      ) {
        assert.ok((metadata[member] as string[]).includes(alg), member);
      }
      const instance = await instanceKey(alg);
      const attestation = await attest(attester, fx.did, instance);
      assert.deepEqual(jose.decodeProtectedHeader(attestation), {
        typ: "oauth-client-attestation+jwt",
        alg,
      });
      const attested = jose.decodeJwt(attestation);
      assert.equal(attested.iss, attester.platform.issuer);
      assert.equal(attested.sub, fx.did);
      assert.deepEqual(attested.cnf, { jwk: instance.publicJwk });

      const headers = await attestationHeaders(metadata, attestation, [
        instance,
      ]);
      assert.equal(headers.get(ATTESTATION), attestation);
      const pop = headers.get(POP)!;
      assert.deepEqual(jose.decodeProtectedHeader(pop), {
        typ: "oauth-client-attestation-pop+jwt",
        alg,
      });
      // What the library puts in a PoP: our `aud`, `jti`, `iat`, and an
      // `iss` (the client id) and `exp` that the server does not ask for.
      const popClaims = jose.decodeJwt(pop);
      assert.deepEqual(Object.keys(popClaims).sort(), [
        "aud",
        "exp",
        "iat",
        "iss",
        "jti",
      ]);
      assert.equal(popClaims.aud, fx.issuer);
      assert.equal(popClaims.iss, fx.did);

      const response = await tokenRequest(fx, metadata, headers);
      const tokens = await response.json();
      assert.equal(response.status, 200, JSON.stringify(tokens));
      assert.equal(tokens.scope, "reports:read");
      const claims = jose.decodeJwt(tokens.access_token);
      assert.equal(claims.sub, fx.did);
      assert.deepEqual(claims.attestation, {
        iss: attester.platform.issuer,
        jkt: instance.thumbprint,
      });
      // The attester's keys came from its metadata, over HTTP.
      assert.deepEqual(attester.platform.requests, [
        "/.well-known/openid-configuration",
        "/jwks",
      ]);

      // The same headers again, with a fresh client assertion: the PoP is
      // taken once (its jti).
      const description = await refused(
        await tokenRequest(fx, metadata, headers),
        "invalid_client_attestation",
      );
      assert.match(description, /already used/);

      // A PoP by a key the attestation does not name: the library, holding
      // another instance's key and attestation, makes a good PoP for that
      // one; sent with this instance's attestation, it is refused.
      const other = await instanceKey(alg);
      const otherHeaders = await attestationHeaders(
        metadata,
        await attest(attester, fx.did, other),
        [other],
      );
      const foreign = new Headers({
        [ATTESTATION]: attestation,
        [POP]: otherHeaders.get(POP)!,
      });
      assert.match(
        await refused(
          await tokenRequest(fx, metadata, foreign),
          "invalid_client_attestation",
        ),
        /does not verify with the attested instance key/,
      );

      // A fresh PoP by the right key is taken after all this.
      const again = await tokenRequest(
        fx,
        metadata,
        await attestationHeaders(metadata, attestation, [instance]),
      );
      const againTokens = await again.json();
      assert.equal(again.status, 200, JSON.stringify(againTokens));
      assert.deepEqual(jose.decodeJwt(againTokens.access_token).attestation, {
        iss: attester.platform.issuer,
        jkt: instance.thumbprint,
      });
    });
  });
}

Deno.test("@openid4vc/oauth2's own Oauth2Client sends the token request: its attestation client authentication, the agent's private_key_jwt beside it, and its DPoP proof: an attested, DPoP-bound token", async () => {
  await withAttestedIssuer("ES256", async (fx, attester, metadata) => {
    const instance = await instanceKey("ES256");
    const dpopKey = await instanceKey("ES256");
    const attestation = await attest(attester, fx.did, instance);
    const attestationAuth = clientAuthenticationClientAttestationJwt({
      clientAttestationJwt: attestation,
      callbacks: {
        signJwt: joseSigner({ held: [instance] }),
        generateRandom,
      },
    });
    const client = new Oauth2Client({
      callbacks: {
        signJwt: joseSigner({ held: [dpopKey] }),
        generateRandom,
        hash,
        // A custom client authentication, as the library invites: its
        // attestation headers, and the agent's own assertion in the body.
        clientAuthentication: async (options) => {
          await attestationAuth(options);
          options.body.client_assertion_type = CLIENT_ASSERTION_TYPE;
          options.body.client_assertion = await clientAssertion(fx);
        },
      },
    });
    const { accessTokenResponse } = await client
      .retrieveClientCredentialsAccessToken({
        authorizationServerMetadata: metadata,
        scope: "reports:read",
        dpop: {
          signer: {
            method: "jwk",
            alg: "ES256",
            publicJwk: dpopKey.publicJwk as Jwk,
          },
        },
      });
    assert.equal(accessTokenResponse.token_type, "DPoP");
    assert.equal(accessTokenResponse.scope, "reports:read");
    const claims = jose.decodeJwt(accessTokenResponse.access_token);
    assert.equal(claims.sub, fx.did);
    assert.deepEqual(claims.attestation, {
      iss: attester.platform.issuer,
      jkt: instance.thumbprint,
    });
    assert.deepEqual(claims.cnf, { jkt: dpopKey.thumbprint });
  });
});
