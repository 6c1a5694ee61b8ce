/**
 * What a status list costs (src/core/status_list.ts): the issuer's work per
 * `GET /oauth/status-lists/{n}` beyond its read of the revoked indexes (the
 * 16 KiB bit array, ZLIB at level 9, base64url, one Ed25519 signature), and a
 * verifier's per fetch (inspect, verify, inflate). Lists with no revocation,
 * 1,000 (a busy day), and every other token revoked (the incompressible worst
 * case). Per token, a verifier then reads one bit from its cached list.
 *
 *   taskset -c 1 deno bench --allow-read bench/status_list_bench.ts
 */
import { generateKeyPair } from "../src/core/keys.ts";
import {
  encodeStatusList,
  signStatusList,
  STATUS_LIST_SIZE,
  verifyStatusList,
} from "../src/core/status_list.ts";

const URI = "http://127.0.0.1:8080/oauth/status-lists/0";
const key = await generateKeyPair();
const signingKey = { kid: "bench", privateKey: key.privateKey };
const iat = Math.floor(Date.now() / 1000);

function randomIndexes(count: number): number[] {
  const set = new Set<number>();
  while (set.size < count) {
    set.add(Math.floor(Math.random() * STATUS_LIST_SIZE));
  }
  return [...set].sort((a, b) => a - b);
}

const lists = {
  "none revoked": [] as number[],
  "1,000 revoked": randomIndexes(1_000),
  "half revoked": randomIndexes(STATUS_LIST_SIZE / 2),
};

for (const [name, revoked] of Object.entries(lists)) {
  const jwt = signStatusList(
    { uri: URI, iat, lst: encodeStatusList(revoked) },
    signingKey,
  );
  Deno.bench(`issuer: encode and sign a list, ${name}`, {
    group: name,
    baseline: true,
  }, () => {
    signStatusList(
      { uri: URI, iat, lst: encodeStatusList(revoked) },
      signingKey,
    );
  });
  Deno.bench(
    `verifier: verify and inflate a list, ${name} (${jwt.length} chars)`,
    {
      group: name,
    },
    () => {
      verifyStatusList(jwt, {
        uri: URI,
        key: () => key.publicKey,
        now: new Date(iat * 1000),
      });
    },
  );
}
