/**
 * The JWKS cache in the home folder (`cache/jwks.json`), one entry per issuer
 * URL. Whoever can write it decides which tokens offline `verify` accepts, so
 * a cache file is used only when this user alone could have written it (a
 * regular file, the user's own, mode 0600 or stricter); otherwise it is as
 * if absent and the keys are fetched again.
 */
import type { CachedJwks, JwksCache } from "../client/verifier.ts";
import { type Home, parseJsonObject } from "./home.ts";

const FILE = "cache/jwks.json";
/** Room for many issuers' key sets. */
const MAX_BYTES = 1024 * 1024;

/** Every issuer's entry, or none when the file is absent, untrusted or corrupt. */
async function loadAll(home: Home): Promise<Record<string, unknown>> {
  const text = await home.readPrivateFile(FILE, MAX_BYTES);
  if (text === undefined) return {};
  try {
    return parseJsonObject(text, FILE);
  } catch {
    return {}; // A corrupt cache is ignored and rewritten.
  }
}

export function homeJwksCache(home: Home, server: string): JwksCache {
  return {
    async load() {
      // Its shape is TokenVerifier's to check (#loadCache), as for any cache.
      return (await loadAll(home))[server] as CachedJwks | undefined;
    },
    async save(value) {
      const all = await loadAll(home);
      await home.writeJson(FILE, { ...all, [server]: value }, true);
    },
  };
}
