/** The JWKS cache in the home folder (`cache/jwks.json`), one entry per issuer URL. */
import type { CachedJwks, JwksCache } from "../client/verifier.ts";
import type { Home } from "./home.ts";

const FILE = "cache/jwks.json";

export function homeJwksCache(home: Home, server: string): JwksCache {
  return {
    async load() {
      try {
        const all = await home.readJson(FILE);
        const entry = all?.[server] as CachedJwks | undefined;
        if (
          entry && typeof entry.issuer === "string" &&
          Array.isArray(entry.keys) && typeof entry.fetched_at === "string"
        ) {
          return entry;
        }
      } catch {
        // A corrupt cache is ignored and rewritten.
      }
      return undefined;
    },
    async save(value) {
      await Deno.mkdir(home.path("cache"), { recursive: true, mode: 0o700 });
      let all: Record<string, unknown> = {};
      try {
        all = (await home.readJson(FILE)) ?? {};
      } catch {
        all = {};
      }
      await home.writeJson(FILE, { ...all, [server]: value }, true);
    },
  };
}
