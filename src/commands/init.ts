/** `auth4agent init [--operator] --domain D --server URL`: a new key and identity file. */
import type { Command } from "@commander-js/extra-typings";
import { didForKey } from "../core/did.ts";
import { parseDomain } from "../core/domain.ts";
import { fail } from "../core/errors.ts";
import { fingerprint, generateKeyPair } from "../core/keys.ts";
import type { AgentFile, OperatorFile, Role } from "../home/home.ts";
import { type CommandContext, parseServerUrl } from "./context.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("init")
    .description(
      "create a key and an identity (agent by default, --operator for an operator) in the home folder",
    )
    .option("--operator", "initialize an operator instead of an agent")
    .requiredOption("--domain <domain>", "the trust domain, e.g. example.com")
    .requiredOption("--server <url>", "the issuer, e.g. http://localhost:8080")
    .option("--force", "replace an existing identity and key")
    .action((options, command) =>
      run(command, async (ctx) => {
        const domain = parseDomain(options.domain);
        const server = parseServerUrl(options.server);
        const role = options.operator ? "operator" : "agent";
        const force = options.force ?? false;
        await ctx.home.withLock(
          () => init(ctx, { role, domain, server, force }),
          { create: true },
        );
      })
    );
}

/** Under the home's lock, so that of two runs without --force one fails (ERR_HOME_EXISTS). */
async function init(
  ctx: CommandContext,
  { role, domain, server, force }: {
    role: Role;
    domain: string;
    server: string;
    force: boolean;
  },
): Promise<void> {
  if (
    !force &&
    (await ctx.home.exists(`${role}.json`) ||
      await ctx.home.exists(`keys/${role}.key`))
  ) {
    fail(
      "ERR_HOME_EXISTS",
      `${ctx.home.dir} already holds an ${role}; pass --force to replace it (the old key is lost)`,
    );
  }
  const pair = await generateKeyPair();
  const created_at = ctx.io.now().toISOString();
  const print = await fingerprint(pair.publicJwk);
  const key = ctx.home.keyPath(role);
  if (role === "operator") {
    const file: OperatorFile = { domain, server, created_at };
    await ctx.home.writeIdentity(role, pair.pem, file, force);
    ctx.print({ role, domain, server, key, fingerprint: print }, [
      `Operator initialized for ${domain} (key ${key}, ${print}).`,
      `Next: auth4agent${ctx.homeFlag} register operator`,
    ]);
  } else {
    const did = await didForKey(domain, pair.publicJwk);
    const file: AgentFile = { did, domain, server, created_at };
    await ctx.home.writeIdentity(role, pair.pem, file, force);
    ctx.print({ role, did, domain, server, key, fingerprint: print }, [
      `Agent initialized: ${did}`,
      `Key ${key} (${print}).`,
      (await ctx.home.readOperator())?.operator_id
        ? `Next: auth4agent${ctx.homeFlag} register agent`
        : `Next: auth4agent${ctx.homeFlag} register agent --operator-id OPERATOR_ID`,
    ]);
  }
}
