/**
 * The forger's workbench for the security suite: compact JWS parts assembled
 * by hand, Ed25519 and HMAC signatures through WebCrypto, and the catalogue of
 * forged access tokens from issue 4, built against a target issuer. The same
 * catalogue runs against the library verifiers and introspection in-process
 * (token_forgery_test.ts) and against the CLI and a real server
 * (cli_verify_test.ts).
 *
 * Forged tokens are assembled from bytes here (or signed by jose for the
 * RSA and ECDSA ones), never by the signing code under attack; our own
 * builders only make the genuine artefacts an attacker would replay: a
 * client assertion and a request proof.
 */
import * as jose from "jose";
import { createClientAssertion } from "../../src/core/client_assertion.ts";
import {
  base64url,
  fromBase64url,
  fromUtf8,
  sha256,
  utf8,
} from "../../src/core/encoding.ts";
import { Auth4AgentError, type ErrorCode } from "../../src/core/errors.ts";
import {
  CLOCK_LEEWAY_SECONDS,
  MAX_JWS_LENGTH,
  nowSeconds,
} from "../../src/core/jws.ts";
import {
  type Ed25519PublicJwk,
  generateKeyPair,
  importPublicJwk,
  thumbprint,
} from "../../src/core/keys.ts";
import {
  createRequestProof,
  REQUEST_PROOF_TYP,
} from "../../src/core/request_proof.ts";

/** Order of the Ed25519 base point (RFC 8032 §5.1): L = 2^252 + 27742317777372353535851937790883648493. */
export const L = (1n << 252n) + 27742317777372353535851937790883648493n;

// ---------------------------------------------------------------------------
// Bytes and parts

/** base64url of the JSON text of `value`, or of `value` itself when it is already text. */
export function part(value: unknown): string {
  return base64url(
    utf8(typeof value === "string" ? value : JSON.stringify(value)),
  );
}

/** The three parts of a compact JWS (throws when there are not three). */
export function split(token: string): [string, string, string] {
  const parts = token.split(".");
  if (parts.length !== 3) throw new Error(`not a compact JWS: ${token}`);
  return parts as [string, string, string];
}

/** The decoded JSON object of one part. */
export function decode(encoded: string): Record<string, unknown> {
  return JSON.parse(fromUtf8(fromBase64url(encoded)));
}

export function hexBytes(hex: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(
    hex.match(/../g) ?? [],
    (byte) => parseInt(byte, 16),
  );
}

/** `count` bytes of `value`. */
export function filled(count: number, value: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(count).fill(value);
}

function concat(...chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Ed25519 signature of the ASCII `input` (a JWS signing input). */
export async function ed25519(
  privateKey: CryptoKey,
  input: string | Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(
    await crypto.subtle.sign(
      "Ed25519",
      privateKey,
      typeof input === "string" ? utf8(input) : input,
    ),
  );
}

/** HMAC-SHA-`bits` of `input` keyed with `secret`. */
export async function hmac(
  bits: 256 | 384 | 512,
  secret: Uint8Array<ArrayBuffer>,
  input: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const key = await crypto.subtle.importKey(
    "raw",
    secret,
    { name: "HMAC", hash: `SHA-${bits}` },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, utf8(input)));
}

/**
 * A compact JWS assembled by hand: `header` and `payload` are objects (JSON
 * encoded here) or raw text, signed with Ed25519 over exactly what is sent.
 */
export async function signCompact(
  header: unknown,
  payload: unknown,
  privateKey: CryptoKey,
): Promise<string> {
  const input = `${part(header)}.${part(payload)}`;
  return `${input}.${base64url(await ed25519(privateKey, input))}`;
}

/** The token with its signature part replaced by `signature` (bytes or text). */
export function withSignature(
  token: string,
  signature: Uint8Array | string,
): string {
  const [h, p] = split(token);
  return `${h}.${p}.${
    typeof signature === "string" ? signature : base64url(signature)
  }`;
}

/** The scalar S (the second half of an Ed25519 signature) plus `times` × L, little-endian. */
export function addL(signature: Uint8Array, times: bigint): Uint8Array {
  let s = 0n;
  for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
  s += times * L;
  const out = Uint8Array.from(signature);
  for (let i = 32; i < 64; i++) {
    out[i] = Number(s & 0xffn);
    s >>= 8n;
  }
  if (s !== 0n) throw new RangeError("S + k·L does not fit in 32 bytes");
  return out;
}

const ALPHABET =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * The same bytes under a lax base64url decoder, another text under a strict
 * one: the unused low bits of the last character are set. `encoded` must
 * have unused bits (its length is not a multiple of 4).
 */
export function nonCanonicalBase64url(encoded: string): string {
  const unused = { 2: 4, 3: 2 }[encoded.length % 4 as 2 | 3];
  if (!unused) throw new RangeError("no unused bits in this base64url text");
  const last = ALPHABET.indexOf(encoded.at(-1)!);
  return encoded.slice(0, -1) + ALPHABET[last | ((1 << unused) - 1)];
}

/**
 * JSON text padded with spaces until its UTF-8 length is `remainder` modulo
 * 3, so that its base64url leaves spare bits (4 for 1, 2 for 2).
 */
function paddedJson(value: unknown, remainder: 1 | 2): string {
  let text = JSON.stringify(value);
  while (utf8(text).length % 3 !== remainder) text += " ";
  return text;
}

// ---------------------------------------------------------------------------
// The target

export interface IssuerKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: Ed25519PublicJwk;
}

export interface Target {
  /** The issuer identifier (`iss`). */
  issuer: string;
  /** The issuer's current signing key: forged-but-validly-signed tokens use it. */
  key: IssuerKey;
  /**
   * Two access tokens the issuer really issued to `agent` for `audience`,
   * with different scopes; the first one's `jti` is in the issuer's store,
   * so a forgery carrying it would be found by introspection if its checks
   * were skipped.
   */
  tokens: readonly [string, string];
  audience: string;
  agent: { did: string; privateKey: CryptoKey; publicJwk: Ed25519PublicJwk };
  now: Date;
  /**
   * Seconds added beyond the leeway to `nbf` and `iat` in the future: 0
   * tests the exact boundary with a fixed clock; a subprocess whose clock
   * runs on needs a margin, or its refusal would turn into an acceptance.
   */
  margin: number;
}

export interface Forgery {
  /** The attack, as the test step names it. */
  name: string;
  token: string;
  /** The stable code the library verifier throws and the CLI prints. */
  code: ErrorCode;
  /** The audience the resource server asks for (library `audience`, CLI `--aud`). */
  audience?: string;
}

/** A token that must be accepted: proves the forging set-up is right. */
export interface Control {
  name: string;
  token: string;
  audience?: string;
  /**
   * Past `exp` but inside the verifiers' clock leeway: the library verifiers
   * accept it, introspection (the issuer's own clock, no leeway) does not.
   */
  expiredForIssuer?: boolean;
}

const INVALID: ErrorCode = "ERR_TOKEN_INVALID";

/** The header the issuer signs with, in its member order. */
function realHeader(t: Target): Record<string, unknown> {
  return decode(split(t.tokens[0])[0]);
}

/** The claims of the first real token (its `jti` is in the store). */
function realClaims(t: Target): Record<string, unknown> {
  return decode(split(t.tokens[0])[1]);
}

/** Signs `claims` (default: the real ones) under `header` (default: the real one) with the issuer key. */
function issuerSigned(
  t: Target,
  changes: {
    header?: Record<string, unknown> | string;
    claims?: Record<string, unknown> | string;
  } = {},
): Promise<string> {
  return signCompact(
    changes.header ?? realHeader(t),
    changes.claims ?? realClaims(t),
    t.key.privateKey,
  );
}

/** `base` with some members changed and those set to `undefined` deleted. */
function edited(
  base: Record<string, unknown>,
  changes: Record<string, unknown>,
): Record<string, unknown> {
  const out = { ...base, ...changes };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete out[name];
  }
  return out;
}

function claimsWith(
  t: Target,
  changes: Record<string, unknown>,
): Record<string, unknown> {
  return edited(realClaims(t), changes);
}

function headerWith(
  t: Target,
  changes: Record<string, unknown>,
): Record<string, unknown> {
  return edited(realHeader(t), changes);
}

/** A fresh Ed25519 key the attacker holds, with its thumbprint. */
async function attackerKey(): Promise<IssuerKey> {
  const pair = await generateKeyPair();
  return {
    kid: await thumbprint(pair.publicJwk),
    privateKey: pair.privateKey,
    publicJwk: pair.publicJwk,
  };
}

function random(length: number): Uint8Array<ArrayBuffer> {
  return crypto.getRandomValues(new Uint8Array(length));
}

/** A token of exactly `length` characters, signed by the issuer, with a `pad` claim. */
export async function tokenOfLength(
  t: Target,
  length: number,
): Promise<string> {
  for (let spaces = 0; spaces < 4; spaces++) {
    const header = JSON.stringify(realHeader(t)) + " ".repeat(spaces);
    const fixed = part(header).length + 2 + 86;
    const claims = realClaims(t);
    const base = part({ ...claims, pad: "" }).length;
    // Each pad character adds 4/3 characters; search around the estimate.
    const estimate = Math.max(0, Math.floor((length - fixed - base) * 3 / 4));
    for (let n = Math.max(0, estimate - 8); n <= estimate + 8; n++) {
      const payload = { ...claims, pad: "x".repeat(n) };
      if (fixed + part(payload).length === length) {
        const token = await signCompact(header, payload, t.key.privateKey);
        if (token.length !== length) throw new Error("length arithmetic");
        return token;
      }
    }
  }
  throw new Error(`cannot build a token of exactly ${length} characters`);
}

// ---------------------------------------------------------------------------
// The catalogue

export type Category = (t: Target) => Promise<Forgery[]>;

const NONE_SPELLINGS = ["none", "None", "NONE", "nOnE"];

async function algNone(t: Target): Promise<Forgery[]> {
  const [, payload, realSig] = split(t.tokens[0]);
  const forgeries: Forgery[] = [];
  for (const alg of NONE_SPELLINGS) {
    const header = part(headerWith(t, { alg }));
    for (
      const [what, sig] of [
        ["empty signature", ""],
        ["the real signature", realSig],
        ["64 random bytes", base64url(random(64))],
      ]
    ) {
      forgeries.push({
        name: `alg ${JSON.stringify(alg)} with ${what}`,
        token: `${header}.${payload}.${sig}`,
        code: INVALID,
      });
    }
  }
  // No usable alg at all, each signed with the issuer's real key.
  for (
    const [what, alg] of [
      ["no alg member", undefined],
      ["alg null", null],
      ['alg ""', ""],
      ['alg ["EdDSA"]', ["EdDSA"]],
      ['alg {"EdDSA":true}', { EdDSA: true }],
    ] as const
  ) {
    forgeries.push({
      name: `${what}, signed with the issuer key`,
      token: await issuerSigned(t, { header: headerWith(t, { alg }) }),
      code: INVALID,
    });
  }
  return forgeries;
}

async function hmacKeyConfusion(t: Target): Promise<Forgery[]> {
  const { x } = t.key.publicJwk;
  const publicKey = await importPublicJwk(t.key.publicJwk);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
  const spkiPem = `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...spki))
  }\n-----END PUBLIC KEY-----\n`;
  const secrets: [string, Uint8Array<ArrayBuffer>][] = [
    ["the raw 32-byte public key x", fromBase64url(x)],
    [
      "the JWK JSON as the JWKS publishes it",
      utf8(JSON.stringify({
        kty: "OKP",
        crv: "Ed25519",
        x,
        kid: t.key.kid,
        alg: "EdDSA",
        use: "sig",
      })),
    ],
    [
      "the RFC 7638 canonical JWK JSON",
      utf8(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`),
    ],
    ["the base64url text of x", utf8(x)],
    ["the SPKI DER", spki],
    ["the SPKI PEM", utf8(spkiPem)],
  ];
  const forgeries: Forgery[] = [];
  for (const bits of [256, 384, 512] as const) {
    const input = `${part(headerWith(t, { alg: `HS${bits}` }))}.${
      split(t.tokens[0])[1]
    }`;
    for (const [what, secret] of secrets) {
      forgeries.push({
        name: `HS${bits} keyed with ${what}`,
        token: `${input}.${base64url(await hmac(bits, secret, input))}`,
        code: INVALID,
      });
    }
  }
  return forgeries;
}

const JOSE_ALGS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
];

async function otherAlgorithms(t: Target): Promise<Forgery[]> {
  const forgeries: Forgery[] = [];
  for (const alg of JOSE_ALGS) {
    const { privateKey } = await jose.generateKeyPair(alg);
    forgeries.push({
      name: `${alg}, validly signed by the attacker's ${alg} key`,
      token: await new jose.SignJWT(realClaims(t))
        .setProtectedHeader({ alg, typ: "at+jwt", kid: t.key.kid })
        .sign(privateKey),
      code: INVALID,
    });
  }
  // Algorithms WebCrypto cannot make: well-sized random signatures.
  for (const [alg, size] of [["ES256K", 64], ["Ed448", 114]] as const) {
    const input = `${part(headerWith(t, { alg }))}.${split(t.tokens[0])[1]}`;
    forgeries.push({
      name: `${alg} with a ${size}-byte signature`,
      token: `${input}.${base64url(random(size))}`,
      code: INVALID,
    });
  }
  // Near spellings of EdDSA, each with a valid Ed25519 signature by the issuer key.
  for (
    const alg of [
      "eddsa",
      "EDDSA",
      "EdDSA ",
      " EdDSA",
      "EdDSA\u0000",
      "Ed25519",
      "ED25519",
      "Ed25519ph",
    ]
  ) {
    forgeries.push({
      name: `alg ${
        JSON.stringify(alg)
      } with a valid Ed25519 signature by the issuer key`,
      token: await issuerSigned(t, { header: headerWith(t, { alg }) }),
      code: INVALID,
    });
  }
  return forgeries;
}

async function unknownKid(t: Target): Promise<Forgery[]> {
  const attacker = await attackerKey();
  const byAttacker = (kid: unknown) =>
    signCompact(headerWith(t, { kid }), realClaims(t), attacker.privateKey);
  const byIssuer = (kid: unknown) =>
    issuerSigned(t, { header: headerWith(t, { kid }) });
  return [
    {
      name: "a kid the issuer never had, signed by the attacker",
      token: await byAttacker("attacker-key-1"),
      code: INVALID,
    },
    {
      name: "kid = the attacker key's thumbprint, signed by it",
      token: await byAttacker(attacker.kid),
      code: INVALID,
    },
    {
      name: "the issuer's kid over a signature by the attacker",
      token: await byAttacker(t.key.kid),
      code: INVALID,
    },
    {
      name: "kid = the agent's DID, signed by the agent's key",
      token: await signCompact(
        headerWith(t, { kid: t.agent.did }),
        realClaims(t),
        t.agent.privateKey,
      ),
      code: INVALID,
    },
    ...await Promise.all(
      ["__proto__", "constructor", "toString", "' OR '1'='1", "../../keys"]
        .map(async (kid) => ({
          name: `kid ${JSON.stringify(kid)}, signed by the attacker`,
          token: await byAttacker(kid),
          code: INVALID,
        })),
    ),
    {
      name: "no kid, signed with the issuer key",
      token: await byIssuer(undefined),
      code: INVALID,
    },
    ...await Promise.all(
      [
        ["an empty kid", ""],
        ["kid null", null],
        ["kid as a number", 0],
        ["kid as an array of the real kid", [t.key.kid]],
        ["the real kid uppercased", t.key.kid.toUpperCase()],
        ["the real kid with a trailing space", t.key.kid + " "],
      ].map(async ([what, kid]) => ({
        name: `${what}, signed with the issuer key`,
        token: await byIssuer(kid),
        code: INVALID,
      })),
    ),
  ];
}

async function embeddedKeys(t: Target): Promise<Forgery[]> {
  const attacker = await attackerKey();
  const attackerJwk = { kty: "OKP", crv: "Ed25519", x: attacker.publicJwk.x };
  const issuerJwk = { kty: "OKP", crv: "Ed25519", x: t.key.publicJwk.x };
  const byAttacker = (header: Record<string, unknown>) =>
    signCompact(header, realClaims(t), attacker.privateKey);
  const fakeCert = btoa(String.fromCharCode(...random(300)));
  const thumb = base64url(await sha256(random(32)));
  return [
    {
      name: "jwk header with the attacker's key and a valid signature by it",
      token: await byAttacker(
        headerWith(t, { kid: undefined, jwk: attackerJwk }),
      ),
      code: INVALID,
    },
    {
      name: "jwk header with the attacker's key beside the issuer's kid",
      token: await byAttacker(headerWith(t, { jwk: attackerJwk })),
      code: INVALID,
    },
    {
      name: "jwk header holding the issuer's own key, signed by the issuer",
      token: await issuerSigned(t, {
        header: headerWith(t, { jwk: issuerJwk }),
      }),
      code: INVALID,
    },
    {
      name: "jku pointing at the attacker's JWKS",
      token: await byAttacker(
        headerWith(t, {
          kid: attacker.kid,
          jku: "https://attacker.example/jwks.json",
        }),
      ),
      code: INVALID,
    },
    {
      name: "jku naming the issuer's own JWKS, signed by the issuer",
      token: await issuerSigned(t, {
        header: headerWith(t, { jku: `${t.issuer}/.well-known/jwks.json` }),
      }),
      code: INVALID,
    },
    {
      name: "x5u pointing at the attacker's certificate",
      token: await byAttacker(
        headerWith(t, { x5u: "https://attacker.example/cert.pem" }),
      ),
      code: INVALID,
    },
    {
      name: "x5c carrying the attacker's certificate chain",
      token: await byAttacker(
        headerWith(t, { kid: undefined, x5c: [fakeCert] }),
      ),
      code: INVALID,
    },
    {
      name: "x5t, signed by the issuer",
      token: await issuerSigned(t, { header: headerWith(t, { x5t: thumb }) }),
      code: INVALID,
    },
    {
      name: "x5t#S256, signed by the issuer",
      token: await issuerSigned(t, {
        header: headerWith(t, { "x5t#S256": thumb }),
      }),
      code: INVALID,
    },
  ];
}

async function critAndB64(t: Target): Promise<Forgery[]> {
  const [, encodedPayload] = split(t.tokens[0]);
  const rawPayload = fromUtf8(fromBase64url(encodedPayload));
  const unencoded = part(headerWith(t, { b64: false, crit: ["b64"] }));
  // RFC 7797: the signing input is the header and the payload bytes as they are.
  const unencodedSig = base64url(
    await ed25519(
      t.key.privateKey,
      concat(utf8(`${unencoded}.`), utf8(rawPayload)),
    ),
  );
  return [
    {
      name: 'crit ["exp"], signed by the issuer',
      token: await issuerSigned(t, {
        header: headerWith(t, { crit: ["exp"] }),
      }),
      code: INVALID,
    },
    {
      name: "crit naming an unknown extension that is present",
      token: await issuerSigned(t, {
        header: headerWith(t, {
          crit: ["urn:attacker:ext"],
          "urn:attacker:ext": true,
        }),
      }),
      code: INVALID,
    },
    {
      name: "crit naming an absent header",
      token: await issuerSigned(t, {
        header: headerWith(t, { crit: ["urn:attacker:missing"] }),
      }),
      code: INVALID,
    },
    {
      name: "crit []",
      token: await issuerSigned(t, { header: headerWith(t, { crit: [] }) }),
      code: INVALID,
    },
    {
      name: 'b64 true with crit ["b64"]',
      token: await issuerSigned(t, {
        header: headerWith(t, { b64: true, crit: ["b64"] }),
      }),
      code: INVALID,
    },
    {
      name: "b64 false without crit, signed as an ordinary JWS",
      token: await issuerSigned(t, { header: headerWith(t, { b64: false }) }),
      code: INVALID,
    },
    {
      name:
        "b64 false (RFC 7797), signed over the raw payload, payload encoded",
      token: `${unencoded}.${encodedPayload}.${unencodedSig}`,
      code: INVALID,
    },
    {
      name: "b64 false (RFC 7797), the raw payload in the middle",
      token: `${unencoded}.${rawPayload}.${unencodedSig}`,
      code: INVALID,
    },
    {
      name: "b64 false (RFC 7797), detached payload",
      token: `${unencoded}..${unencodedSig}`,
      code: INVALID,
    },
  ];
}

async function splicing(t: Target): Promise<Forgery[]> {
  const [h1, p1, s1] = split(t.tokens[0]);
  const [, p2, s2] = split(t.tokens[1]);
  // The same header members in another order: other bytes under the same meaning.
  const reordered = Object.fromEntries(
    Object.entries(realHeader(t)).reverse(),
  );
  const [hAlt, pAlt, sAlt] = split(
    await issuerSigned(t, {
      header: reordered,
      claims: decode(p2),
    }),
  );
  if (hAlt === h1) throw new Error("the reordered header must differ");
  const assertion = await createClientAssertion({
    clientId: t.agent.did,
    audience: t.issuer,
    privateKey: t.agent.privateKey,
    now: t.now,
  });
  const [hCa, pCa, sCa] = split(assertion);
  const escalated = part(
    claimsWith(t, { scope: "read:data write:data admin:root" }),
  );
  const respaced = part(JSON.stringify(decode(p1), null, 1));
  return [
    {
      name: "the payload of token 2 under token 1's header and signature",
      token: `${h1}.${p2}.${s1}`,
      code: INVALID,
    },
    {
      name: "token 1 with the signature of token 2",
      token: `${h1}.${p1}.${s2}`,
      code: INVALID,
    },
    {
      name: "a header swapped under a real issuer signature",
      token: `${h1}.${pAlt}.${sAlt}`,
      code: INVALID,
    },
    {
      name: "the reordered header over token 1's real signature",
      token: `${hAlt}.${p1}.${s1}`,
      code: INVALID,
    },
    {
      name: "token 1's claims re-serialized (same JSON, other bytes)",
      token: `${h1}.${respaced}.${s1}`,
      code: INVALID,
    },
    {
      name: "an escalated scope under token 1's signature",
      token: `${h1}.${escalated}.${s1}`,
      code: INVALID,
    },
    {
      name: "a client assertion's header over token 1's payload and signature",
      token: `${hCa}.${p1}.${s1}`,
      code: INVALID,
    },
    {
      name: "a client assertion's payload and signature under token 1's header",
      token: `${h1}.${pCa}.${sCa}`,
      code: INVALID,
    },
    {
      name: "token 1's payload under a client assertion's signature",
      token: `${h1}.${p1}.${sCa}`,
      code: INVALID,
    },
  ];
}

async function signatures(t: Target): Promise<Forgery[]> {
  const token = t.tokens[0];
  const [h, p, s] = split(token);
  const sig = fromBase64url(s);
  const flip = (index: number) => {
    const out = Uint8Array.from(sig);
    out[index]! ^= 0x01;
    return out;
  };
  const identity = hexBytes("01" + "00".repeat(31));
  return [
    { name: "empty signature", token: `${h}.${p}.`, code: INVALID },
    { name: "no signature part", token: `${h}.${p}`, code: INVALID },
    {
      name: "signature truncated by one character",
      token: withSignature(token, s.slice(0, -1)),
      code: INVALID,
    },
    {
      name: "signature truncated to 63 bytes",
      token: withSignature(token, sig.slice(0, 63)),
      code: INVALID,
    },
    {
      name: "signature truncated to R (32 bytes)",
      token: withSignature(token, sig.slice(0, 32)),
      code: INVALID,
    },
    {
      name: "a one-byte signature",
      token: withSignature(token, sig.slice(0, 1)),
      code: INVALID,
    },
    {
      name: "the signature plus one zero byte",
      token: withSignature(token, concat(sig, new Uint8Array(1))),
      code: INVALID,
    },
    {
      name: "the signature twice",
      token: withSignature(token, concat(sig, sig)),
      code: INVALID,
    },
    {
      name: "zero signature (64 zero bytes)",
      token: withSignature(token, new Uint8Array(64)),
      code: INVALID,
    },
    {
      name: "64 0xff bytes",
      token: withSignature(token, filled(64, 0xff)),
      code: INVALID,
    },
    {
      name: "R = the identity point, S = 0 (the small-order forgery)",
      token: withSignature(token, concat(identity, new Uint8Array(32))),
      code: INVALID,
    },
    ...[1n, 2n, 8n].map((k) => ({
      name: `non-canonical S + ${k === 1n ? "" : `${k}·`}L`,
      token: withSignature(token, addL(sig, k)),
      code: INVALID,
    })),
    {
      name: "S with its top bit set (S + 2^255)",
      token: withSignature(
        token,
        (() => {
          const out = Uint8Array.from(sig);
          out[63]! |= 0x80;
          return out;
        })(),
      ),
      code: INVALID,
    },
    {
      name: "one bit of R flipped",
      token: withSignature(token, flip(0)),
      code: INVALID,
    },
    {
      name: "one bit of S flipped",
      token: withSignature(token, flip(40)),
      code: INVALID,
    },
    {
      name: "the real signature in non-canonical base64url (spare bits set)",
      token: withSignature(token, nonCanonicalBase64url(s)),
      code: INVALID,
    },
    {
      name: "the real signature with base64 padding",
      token: withSignature(token, s + "=="),
      code: INVALID,
    },
    {
      name: "the issuer's signature over the payload part alone",
      token: withSignature(token, await ed25519(t.key.privateKey, p)),
      code: INVALID,
    },
    {
      name: "the issuer's signature over the decoded payload bytes",
      token: withSignature(
        token,
        await ed25519(t.key.privateKey, fromBase64url(p)),
      ),
      code: INVALID,
    },
  ];
}

async function serializations(t: Target): Promise<Forgery[]> {
  const token = t.tokens[0];
  const [h, p, s] = split(token);
  const header = realHeader(t);
  const claims = realClaims(t);
  const attacker = await attackerKey();
  // A payload whose base64url has "-" or "_", to re-encode in standard base64.
  let pad = "";
  while (!/[-_]/.test(part({ ...claims, pad }))) pad += "\u00ff";
  const [, , attackerSig] = split(
    await signCompact(header, claims, attacker.privateKey),
  );
  const { kid: _kid, ...headerWithoutKid } = header;
  const [hNoKid, , sNoKid] = split(
    await issuerSigned(t, { header: headerWithoutKid }),
  );
  // Signed by the issuer over exactly the text sent, so only the encoding is wrong.
  const signedAsSent = async (headerPart: string, payloadPart: string) => {
    const input = `${headerPart}.${payloadPart}`;
    return `${input}.${base64url(await ed25519(t.key.privateKey, input))}`;
  };
  const jwe = [
    part({ alg: "dir", enc: "A256GCM", kid: t.key.kid }),
    "",
    base64url(random(12)),
    base64url(random(200)),
    base64url(random(16)),
  ].join(".");
  return [
    {
      name: "JWS JSON serialization, flattened",
      token: JSON.stringify({ protected: h, payload: p, signature: s }),
      code: INVALID,
    },
    {
      name: "JWS JSON serialization, general",
      token: JSON.stringify({
        payload: p,
        signatures: [{ protected: h, signature: s }],
      }),
      code: INVALID,
    },
    {
      name: "JWS JSON serialization, general, attacker's signature first",
      token: JSON.stringify({
        payload: p,
        signatures: [
          { protected: h, signature: attackerSig },
          { protected: h, signature: s },
        ],
      }),
      code: INVALID,
    },
    {
      name: "JWS JSON serialization, flattened, kid in the unprotected header",
      token: JSON.stringify({
        protected: hNoKid,
        header: { kid: t.key.kid },
        payload: p,
        signature: sNoKid,
      }),
      code: INVALID,
    },
    {
      name: "a JWE-shaped token (five parts)",
      token: jwe,
      code: INVALID,
    },
    { name: "a fourth, empty part", token: `${token}.`, code: INVALID },
    {
      name: "a fourth part",
      token: `${token}.${s}`,
      code: INVALID,
    },
    { name: "a leading space", token: ` ${token}`, code: INVALID },
    { name: "a trailing newline", token: `${token}\n`, code: INVALID },
    { name: 'a "Bearer " prefix', token: `Bearer ${token}`, code: INVALID },
    {
      name: "header with base64 padding, signed as sent",
      token: await signedAsSent(
        part(paddedJson(header, 1)) + "==",
        p,
      ),
      code: INVALID,
    },
    {
      name: "header in non-canonical base64url, signed as sent",
      token: await signedAsSent(
        nonCanonicalBase64url(part(paddedJson(header, 1))),
        p,
      ),
      code: INVALID,
    },
    {
      name: "payload in non-canonical base64url, signed as sent",
      token: await signedAsSent(
        h,
        nonCanonicalBase64url(part(paddedJson(claims, 1))),
      ),
      code: INVALID,
    },
    {
      name: "payload in standard base64 (+ and /), signed as sent",
      token: await signedAsSent(
        h,
        part({ ...claims, pad }).replaceAll("-", "+").replaceAll("_", "/"),
      ),
      code: INVALID,
    },
    {
      name: "header with invalid UTF-8, signed as sent",
      token: await signedAsSent(
        base64url(
          concat(
            utf8(JSON.stringify(header).slice(0, -1) + ',"x":"'),
            new Uint8Array([0xff, 0xfe]),
            utf8('"}'),
          ),
        ),
        p,
      ),
      code: INVALID,
    },
    {
      name: "header as a JSON array, signed by the issuer",
      token: await issuerSigned(t, { header: JSON.stringify([header]) }),
      code: INVALID,
    },
    {
      name: "payload that is not JSON, signed by the issuer",
      token: await issuerSigned(t, { claims: "not json" }),
      code: INVALID,
    },
    {
      name: "payload as a JSON array, signed by the issuer",
      token: await issuerSigned(t, { claims: JSON.stringify([claims]) }),
      code: INVALID,
    },
    {
      name: "payload null, signed by the issuer",
      token: await issuerSigned(t, { claims: "null" }),
      code: INVALID,
    },
  ];
}

async function claims(t: Target): Promise<Forgery[]> {
  const signedWith = async (
    name: string,
    changes: Record<string, unknown>,
    code: ErrorCode = INVALID,
    audience?: string,
  ): Promise<Forgery> => ({
    name,
    token: await issuerSigned(t, { claims: claimsWith(t, changes) }),
    code,
    audience,
  });
  const typed = async (typ: unknown): Promise<Forgery> => ({
    name: `typ ${JSON.stringify(typ)}, signed by the issuer`,
    token: await issuerSigned(t, { header: headerWith(t, { typ }) }),
    code: INVALID,
  });
  const otherDid = `did:agent:example.com:${"ab".repeat(16)}`;
  return [
    await signedWith("wrong iss", { iss: "http://attacker.example" }),
    await signedWith("iss with a trailing slash", { iss: `${t.issuer}/` }),
    await signedWith("iss in upper case", { iss: t.issuer.toUpperCase() }),
    await signedWith("iss as an array", { iss: [t.issuer] }),
    {
      name: "a real token presented to another audience",
      token: t.tokens[0],
      code: "ERR_TOKEN_AUDIENCE",
      audience: "https://api.other.example",
    },
    await signedWith(
      "aud of another resource server",
      { aud: "https://api.other.example" },
      "ERR_TOKEN_AUDIENCE",
      t.audience,
    ),
    await signedWith(
      "aud as an array holding the expected audience and another",
      { aud: [t.audience, "https://api.other.example"] },
      INVALID,
      t.audience,
    ),
    await typed("JWT"),
    await typed(undefined),
    await typed(REQUEST_PROOF_TYP),
    await typed("client-authentication+jwt"),
    await typed("application/jwt"),
    await typed("at+jwt "),
    ...await Promise.all(
      [
        "jti",
        "exp",
        "sub",
        "iat",
        "iss",
        "aud",
        "client_id",
        "scope",
        "domain",
      ].map((name) => signedWith(`no ${name}`, { [name]: undefined })),
    ),
    await signedWith("sub ≠ client_id", { client_id: otherDid }),
    await signedWith("sub ≠ client_id (sub another DID)", { sub: otherDid }),
    await signedWith("sub and client_id not DIDs", {
      sub: "admin",
      client_id: "admin",
    }),
    await signedWith("a malformed scope", { scope: "read:data\u0000admin" }),
    await signedWith("exp as a string", {
      exp: String(nowSeconds(t.now) + 900),
    }),
    await signedWith("exp with a fraction", { exp: nowSeconds(t.now) + 900.5 }),
    await signedWith("iat as a string", { iat: String(nowSeconds(t.now)) }),
    await signedWith("jti as a number", { jti: 42 }),
    await signedWith("scope as an array", { scope: ["read:data"] }),
  ];
}

async function times(t: Target): Promise<Forgery[]> {
  const now = nowSeconds(t.now);
  // Expired exactly at the boundary: stays expired however the clock runs on.
  const past = now - CLOCK_LEEWAY_SECONDS;
  const future = now + CLOCK_LEEWAY_SECONDS + 1 + t.margin;
  const signedWith = async (
    name: string,
    changes: Record<string, unknown>,
    code: ErrorCode,
  ): Promise<Forgery> => ({
    name,
    token: await issuerSigned(t, { claims: claimsWith(t, changes) }),
    code,
  });
  return [
    await signedWith(
      `expired ${CLOCK_LEEWAY_SECONDS} s ago (exp + leeway = now)`,
      { iat: past - 900, exp: past },
      "ERR_TOKEN_EXPIRED",
    ),
    await signedWith("exp 0", { exp: 0 }, "ERR_TOKEN_EXPIRED"),
    await signedWith(
      `nbf ${CLOCK_LEEWAY_SECONDS + 1 + t.margin} s ahead`,
      { nbf: future },
      INVALID,
    ),
    await signedWith(
      `iat ${CLOCK_LEEWAY_SECONDS + 1 + t.margin} s ahead`,
      { iat: future, exp: future + 900 },
      INVALID,
    ),
  ];
}

async function oversize(t: Target): Promise<Forgery[]> {
  return await Promise.all(
    [MAX_JWS_LENGTH + 1, MAX_JWS_LENGTH + 1000, 12_000].map(async (length) => ({
      name: `${length} characters, signed by the issuer`,
      token: await tokenOfLength(t, length),
      code: INVALID,
    })),
  );
}

/** Client assertions and request proofs are never access tokens. */
async function typeConfusion(t: Target): Promise<Forgery[]> {
  const proof = (kid?: string) =>
    createRequestProof({
      method: "POST",
      path: "/v1/agents",
      body: utf8("{}"),
      nonce: "nonce",
      privateKey: t.agent.privateKey,
      now: t.now,
      kid,
      jwk: kid ? undefined : t.agent.publicJwk,
    });
  return [
    {
      name: "a real client assertion made by the agent",
      token: await createClientAssertion({
        clientId: t.agent.did,
        audience: t.issuer,
        privateKey: t.agent.privateKey,
        now: t.now,
      }),
      code: INVALID,
    },
    {
      name:
        "a client assertion dressed as an access token (typ, kid), signed by the agent",
      token: await signCompact(realHeader(t), {
        ...realClaims(t),
        iss: t.agent.did,
      }, t.agent.privateKey),
      code: INVALID,
    },
    {
      name: "a request proof signed by the registered agent (kid)",
      token: await proof(t.agent.did),
      code: INVALID,
    },
    {
      name: "a request proof embedding the agent's key (jwk)",
      token: await proof(),
      code: INVALID,
    },
  ];
}

/** Every category of forged access tokens, by name. */
export const CATALOGUE: Record<string, Category> = {
  "alg none": algNone,
  "HMAC keyed with the public key": hmacKeyConfusion,
  "algorithms other than EdDSA": otherAlgorithms,
  "kid not in the issuer's keys": unknownKid,
  "keys offered by the token": embeddedKeys,
  "crit and b64": critAndB64,
  "spliced parts": splicing,
  "signatures": signatures,
  "serializations": serializations,
  "claims": claims,
  "time": times,
  "oversize": oversize,
  "client assertions and request proofs": typeConfusion,
};

/**
 * Tokens every verifier must accept: the real ones, and tokens the test signs
 * with the issuer key — proof that the forgeries above fail for their flaw
 * and not for the key. Only clock-safe boundaries here (they stay accepted
 * while a clock runs on); the exact ones are in clock_leeway_test.ts.
 */
export async function controls(t: Target): Promise<Control[]> {
  const now = nowSeconds(t.now);
  return [
    { name: "real token 1", token: t.tokens[0] },
    { name: "real token 2", token: t.tokens[1], audience: t.audience },
    {
      name: "token 1's claims re-signed by the test with the issuer key",
      token: await issuerSigned(t),
      audience: t.audience,
    },
    {
      name: `nbf ${CLOCK_LEEWAY_SECONDS} s ahead (inside the leeway)`,
      token: await issuerSigned(t, {
        claims: claimsWith(t, { nbf: now + CLOCK_LEEWAY_SECONDS }),
      }),
    },
    {
      name: `iat ${CLOCK_LEEWAY_SECONDS} s ahead (inside the leeway)`,
      token: await issuerSigned(t, {
        claims: claimsWith(t, { iat: now + CLOCK_LEEWAY_SECONDS }),
      }),
    },
    {
      name: `exactly ${MAX_JWS_LENGTH} characters`,
      token: await tokenOfLength(t, MAX_JWS_LENGTH),
    },
  ];
}

/** Every forgery of every category, the category in front of its name. */
export async function everyForgery(t: Target): Promise<Forgery[]> {
  const all: Forgery[] = [];
  for (const [category, build] of Object.entries(CATALOGUE)) {
    for (const forgery of await build(t)) {
      all.push({ ...forgery, name: `${category}: ${forgery.name}` });
    }
  }
  return all;
}

/**
 * Validator for `assert.rejects`: an Auth4AgentError with the `expected`
 * code (the message is never asserted).
 */
export function code(expected: ErrorCode): (error: unknown) => true {
  return (error) => {
    if (!(error instanceof Auth4AgentError)) {
      throw new Error(`expected Auth4AgentError ${expected}, got ${error}`, {
        cause: error,
      });
    }
    if (error.code !== expected) {
      throw new Error(`expected ${expected}, got ${error.code}`, {
        cause: error,
      });
    }
    return true;
  };
}
