/** `auth4agent init [--operator] --domain D --server URL`: a new key and identity file. */
import type { Command } from "@commander-js/extra-typings";
import { didForKey } from "../core/did.ts";
import { parseDomain } from "../core/domain.ts";
import { fail } from "../core/errors.ts";
import { fingerprint, generateKeyPair } from "../core/keys.ts";
import type { AgentFile, OperatorFile } from "../home/home.ts";
import { parseServerUrl } from "./context.ts";
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
        await ctx.home.writeKey(role, pair.pem, force);
        const created_at = ctx.io.now().toISOString();
        const print = await fingerprint(pair.publicJwk);
        if (role === "operator") {
          const file: OperatorFile = { domain, server, created_at };
          await ctx.home.writeJson("operator.json", file, force);
          ctx.print({
            role,
            domain,
            server,
            key: ctx.home.keyPath(role),
            fingerprint: print,
          }, [
            `Operator initialized for ${domain} (key ${
              ctx.home.keyPath(role)
            }, ${print}).`,
            "Next: auth4agent register operator",
          ]);
        } else {
          const did = await didForKey(domain, pair.publicJwk);
          const file: AgentFile = { did, domain, server, created_at };
          await ctx.home.writeJson("agent.json", file, force);
          ctx.print({
            role,
            did,
            domain,
            server,
            key: ctx.home.keyPath(role),
            fingerprint: print,
          }, [
            `Agent initialized: ${did}`,
            `Key ${ctx.home.keyPath(role)} (${print}).`,
            "Next: auth4agent register agent --operator-id OPERATOR_ID",
          ]);
        }
      })
    );
}
