/** `auth4agent serve`: run the issuer until SIGTERM or SIGINT. */
import type { Command } from "@commander-js/extra-typings";
import { resolveServeConfig } from "../serve/config.ts";
import { startServer } from "../serve/server.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("serve")
    .description("run the issuer (SQLite by default)")
    .option(
      "--host <host>",
      "address to bind (env AUTH4AGENT_HOST; default 127.0.0.1)",
    )
    .option(
      "--port <port>",
      "port to bind, 0 for any (env AUTH4AGENT_PORT; default 8080)",
    )
    .option(
      "--db <file>",
      "SQLite database file (env AUTH4AGENT_DB; default ./auth4agent.db)",
    )
    .option(
      "--issuer <url>",
      "issuer identifier (env AUTH4AGENT_ISSUER; default http://HOST:PORT)",
    )
    .option(
      "--dns-server <ip:port>",
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
    .action((options, command) =>
      run(command, async (ctx) => {
        const config = resolveServeConfig(options, ctx.io.env);
        const server = await startServer(config);
        const stop = () => void server.shutdown();
        Deno.addSignalListener("SIGTERM", stop);
        Deno.addSignalListener("SIGINT", stop);
        await server.finished;
        Deno.removeSignalListener("SIGTERM", stop);
        Deno.removeSignalListener("SIGINT", stop);
      })
    );
}
