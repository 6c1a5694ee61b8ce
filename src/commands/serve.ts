/**
 * `auth4agent serve`: run the issuer until SIGTERM or SIGINT; and
 * `auth4agent serve keys rotate | list`: administer its signing keys.
 */
import type { Command } from "@commander-js/extra-typings";
import { listKeys, rotateKeys, withStore } from "../serve/admin.ts";
import {
  DEFAULTS,
  type RawServeOptions,
  resolveServeConfig,
} from "../serve/config.ts";
import { loadKek } from "../serve/kek.ts";
import { KEY_PREPUBLISH_SECONDS } from "../serve/signing_keys.ts";
import { defaultLog, startServer } from "../serve/server.ts";
import type { Run } from "./registry.ts";
import { repeatable } from "./repeatable.ts";

export function register(program: Command, run: Run): void {
  const serve = program.command("serve")
    .description("run the issuer (SQLite by default)")
    .option(
      "--host <host>",
      "host name or address to bind (env AUTH4AGENT_HOST; default localhost, so the issuer is http://localhost:PORT)",
    )
    .option(
      "--port <port>",
      "port to bind, 0 for any (env AUTH4AGENT_PORT; default 8080)",
    )
    .option(
      "--db <file|url>",
      "SQLite database file or postgres:// URL (env AUTH4AGENT_DB; default ./auth4agent.db)",
    )
    .option(
      "--issuer <url>",
      "issuer identifier (env AUTH4AGENT_ISSUER; default http://HOST:PORT)",
    )
    .option(
      "--dns-server <host:port>",
      "resolver for TXT lookups (env AUTH4AGENT_DNS_SERVER; default: the system's)",
    )
    .option(
      "--rate-limit <n>",
      "requests per second per client, 0 = off (env AUTH4AGENT_RATE_LIMIT; default 20)",
    )
    .option(
      "--token-ttl <seconds>",
      "longest token lifetime (env AUTH4AGENT_TOKEN_TTL; default 900)",
    )
    .option(
      "--workload-issuer <url>",
      "trust this platform's workload tokens (its OIDC issuer URL; repeatable) for agents whose operator binds them (env AUTH4AGENT_WORKLOAD_ISSUERS, space-separated)",
      repeatable,
    )
    .option(
      "--client-attester <url>",
      "take client attestations by this attester (its issuer URL, whose metadata publishes its keys; repeatable) for agents (env AUTH4AGENT_CLIENT_ATTESTERS, space-separated)",
      repeatable,
    )
    .option(
      "--federation-file <file>",
      "trust other issuers for their domains' agents: a JSON file of peers, each {issuer, domains, scopes} (env AUTH4AGENT_FEDERATION_FILE)",
    )
    .option(
      "--key-encryption-key-file <file>",
      "encrypt signing keys at rest with this 32-byte base64 key (env AUTH4AGENT_KEK_FILE, or the key itself in AUTH4AGENT_KEK)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const config = resolveServeConfig(options, ctx.io.env);
        const kek = await loadKek(config.kekFile, ctx.io.env);
        if (!kek) {
          defaultLog({
            level: "warn",
            msg:
              "signing keys rest unencrypted in the database: give --key-encryption-key-file to encrypt them",
          });
        }
        const server = await startServer(config, { kek });
        const stop = () => void server.shutdown();
        const reload = () => void server.reloadKeys();
        Deno.addSignalListener("SIGTERM", stop);
        Deno.addSignalListener("SIGINT", stop);
        Deno.addSignalListener("SIGHUP", reload);
        await server.finished;
        Deno.removeSignalListener("SIGTERM", stop);
        Deno.removeSignalListener("SIGINT", stop);
        Deno.removeSignalListener("SIGHUP", reload);
      })
    );

  const keys = serve.command("keys").description(
    "the issuer's signing keys (uses --db and the key-encryption key of serve)",
  );
  const adminConfig = (command: { optsWithGlobals(): unknown }) =>
    command.optsWithGlobals() as RawServeOptions;

  keys.command("rotate")
    .description(
      `publish a new signing key that signs ${
        KEY_PREPUBLISH_SECONDS / 60
      } minutes later (verifiers' cached key sets hold it by then); the old one stays in the JWKS until its tokens expire`,
    )
    .option(
      "--now",
      "after a compromise: sign with the new key at once and withdraw every other key (out of the JWKS within 90 s; its tokens stop verifying)",
    )
    .action((rotateOptions, command) =>
      run(command, async (ctx) => {
        const options = adminConfig(command);
        const config = resolveServeConfig(options, ctx.io.env);
        const kek = await loadKek(config.kekFile, ctx.io.env);
        const result = await withStore(config.db ?? DEFAULTS.db, (store) =>
          rotateKeys(store, ctx.io.now(), kek, {
            immediately: rotateOptions.now === true,
          }));
        ctx.print(result, [
          `New signing key ${result.kid} is published and signs from ${result.active_from}${
            result.retired.length
              ? `; retired then: ${result.retired.join(", ")}`
              : ""
          }.`,
          "Running servers load it within 30 s (at once on SIGHUP); retired keys stay published until their tokens expire.",
        ]);
      })
    );

  keys.command("list")
    .description(
      "list signing keys: kid, created, signing from/until, longest token lifetime, encrypted at rest",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const config = resolveServeConfig(adminConfig(command), ctx.io.env);
        const list = await withStore(config.db, listKeys, { create: false });
        ctx.print(
          list,
          list.map((key) =>
            `${key.kid}  created ${key.created_at}  ${
              keyState(key, ctx.io.now())
            }  tokens ${
              key.token_ttl === null
                ? "of unknown lifetime"
                : `≤ ${key.token_ttl} s`
            }${key.encrypted ? "  encrypted" : ""}`
          ),
        );
      })
    );
}

function keyState(
  key: { active_from: string; retired_at: string | null },
  now: Date,
): string {
  const retired = key.retired_at && new Date(key.retired_at) <= now;
  if (retired) return `retired ${key.retired_at}`;
  const until = key.retired_at ? ` until ${key.retired_at}` : "";
  return new Date(key.active_from) > now
    ? `signs from ${key.active_from}${until}`
    : `signing${until}`;
}
