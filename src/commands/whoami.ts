/** `auth4agent whoami`: what this home folder holds, and how the issuer sees it. */
import type { Command } from "@commander-js/extra-typings";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { fingerprint } from "../core/keys.ts";
import type { CommandContext } from "./context.ts";
import type { Run } from "./registry.ts";

async function issuerView<T>(
  work: () => Promise<T>,
): Promise<T | { error: string }> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof Auth4AgentError) {
      return { error: `${error.code}: ${error.message}` };
    }
    throw error;
  }
}

async function keyFingerprint(
  ctx: CommandContext,
  role: "operator" | "agent",
): Promise<string> {
  return await fingerprint((await ctx.home.readKey(role)).publicJwk);
}

export function register(program: Command, run: Run): void {
  program.command("whoami")
    .description(
      "show the identities in this home folder and their state at the issuer",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const operatorFile = await ctx.home.readOperator();
        const agentFile = await ctx.home.readAgent();
        if (!operatorFile && !agentFile) {
          fail(
            "ERR_HOME_MISSING",
            `no identity in ${ctx.home.dir}; run \`auth4agent init\` first`,
          );
        }
        const result: Record<string, unknown> = {
          home: ctx.home.dir,
          modes: [] as string[],
        };
        const lines = [`home: ${ctx.home.dir}`];
        if (operatorFile) {
          (result.modes as string[]).push("operator");
          const server = operatorFile.operator_id
            ? await issuerView(() =>
              ctx.client(operatorFile.server).operator(
                operatorFile.operator_id!,
              )
            )
            : { registered: false };
          const key = await keyFingerprint(ctx, "operator");
          result.operator = {
            ...operatorFile,
            key_fingerprint: key,
            issuer_view: server,
          };
          lines.push(
            "operator:",
            `  domain:      ${operatorFile.domain}`,
            `  operator id: ${operatorFile.operator_id ?? "(not registered)"}`,
            `  server:      ${operatorFile.server}`,
            `  key:         ${key}`,
            `  issuer says: ${
              "error" in server
                ? server.error
                : "verified" in server
                ? (server.verified
                  ? `verified ${server.verified_at}`
                  : "registered, domain not verified")
                : "not registered"
            }`,
          );
        }
        if (agentFile) {
          (result.modes as string[]).push("agent");
          const server = agentFile.operator_id
            ? await issuerView(() =>
              ctx.client(agentFile.server).agent(agentFile.did)
            )
            : { registered: false };
          const key = await keyFingerprint(ctx, "agent");
          result.agent = {
            ...agentFile,
            key_fingerprint: key,
            issuer_view: server,
          };
          lines.push(
            "agent:",
            `  did:         ${agentFile.did}`,
            `  domain:      ${agentFile.domain}`,
            `  operator id: ${agentFile.operator_id ?? "(not registered)"}`,
            `  server:      ${agentFile.server}`,
            `  key:         ${key}`,
            `  issuer says: ${
              "error" in server
                ? server.error
                : "status" in server
                ? server.status
                : "not registered"
            }`,
          );
        }
        ctx.print(result, lines);
      })
    );
}
