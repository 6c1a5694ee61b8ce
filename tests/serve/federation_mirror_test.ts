/**
 * The mirroring of peers' revocations as `serve` runs it: B, restarted with a
 * federation file that no longer trusts A, revokes the tokens it gave A's
 * agents at its next run, in its store (and so in its status list), with no
 * request asking for it.
 */
import assert from "node:assert/strict";
import { resolveServeConfig } from "../../src/serve/config.ts";
import { startServer } from "../../src/serve/server.ts";
import { SqliteStore } from "../../src/store/sqlite.ts";
import { DOMAIN, readPkcs8PemFile, withIssuer } from "../interop/fixture.ts";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import * as jose from "jose";

Deno.test("federation: serve mirrors on its own, at its interval: B restarted without A revokes the tokens it gave A's agents", async () => {
  await withIssuer(["orders:read"], async (a) => {
    const dir = await Deno.makeTempDir({ prefix: "a4a-mirror-" });
    const db = `${dir}/b.db`;
    const config = resolveServeConfig(
      { host: "127.0.0.1", port: "0", db, rateLimit: "0" },
      () => undefined,
    );
    const peer = {
      issuer: a.issuer,
      domains: [DOMAIN],
      scopes: ["orders:read"],
    };
    try {
      let b = await startServer(config, { federation: [peer], log: () => {} });
      let jti: string;
      try {
        const privateKey = await readPkcs8PemFile(a.agent.keyFile);
        const own = await a.client.issueToken(a.agent.did, privateKey, {
          audience: b.issuer,
        });
        const traded = await new IssuerClient(b.issuer).federatedToken(
          own.access_token,
          {},
        );
        jti = jose.decodeJwt(traded.access_token).jti!;
      } finally {
        await b.shutdown();
      }
      // Restarted trusting no peer, mirroring every 100 ms.
      b = await startServer(config, {
        federation: [],
        log: () => {},
        peerRevocationsIntervalMs: 100,
      });
      try {
        const store = new SqliteStore(db);
        try {
          let revokedAt: Date | undefined;
          for (let i = 0; i < 50 && !revokedAt; i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
            revokedAt = (await store.getToken(jti))?.revokedAt;
          }
          assert.ok(revokedAt, "revoked by the server's own run");
          assert.match(
            (await store.getToken(jti))?.revokeReason ?? "",
            /no longer trusts/,
          );
        } finally {
          await store.close();
        }
      } finally {
        await b.shutdown();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
