/** `auth4agent set-server --url URL`: point this home folder at another issuer, after a health check. */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { type CommandContext, parseServerUrl } from "./context.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("set-server")
    .description(
      "point this home's operator and agent at another issuer (checked by a health call first)",
    )
    .requiredOption("--url <url>", "the issuer, e.g. https://auth.example.com")
    .action((options, command) =>
      run(command, async (ctx) => {
        const server = parseServerUrl(options.url);
        const health = await ctx.client(server).health();
        if (health.status !== "ok") {
          fail(
            "ERR_ISSUER_RESPONSE",
            `${server} is not a healthy auth4agent issuer`,
          );
        }
        await ctx.client(server).metadata(); // it calls itself by this URL (RFC 8414 §3.3)
        await ctx.home.withLock(() => pointAt(ctx, server));
      })
    );
}

/**
 * Under the home's lock: each file is read just before it is rewritten, so
 * a concurrent register's operator_id is kept.
 */
async function pointAt(ctx: CommandContext, server: string): Promise<void> {
  const updated: string[] = [];
  const operator = await ctx.home.readOperator();
  if (operator) {
    await ctx.home.writeJson(
      "operator.json",
      { ...operator, server },
      true,
    );
    updated.push("operator.json");
  }
  const agent = await ctx.home.readAgent();
  if (agent) {
    await ctx.home.writeJson("agent.json", { ...agent, server }, true);
    updated.push("agent.json");
  }
  if (updated.length === 0) {
    fail(
      "ERR_HOME_MISSING",
      `no identity in ${ctx.home.dir}; run \`auth4agent init\` first`,
    );
  }
  ctx.print(
    { server, updated },
    `Now using ${server} (${updated.join(", ")}).`,
  );
}
