/** `auth4agent audit list | verify --db FILE`: read the issuer's hash-chained audit log and check it. */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { listAudit, verifyAudit, withStore } from "../serve/admin.ts";
import { resolveServeConfig } from "../serve/config.ts";
import type { Run } from "./registry.ts";

function count(
  name: string,
  value: string | undefined,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (!/^[0-9]{1,9}$/.test(value)) {
    fail("ERR_USAGE", `${name} must be a non-negative integer`);
  }
  return Number(value);
}

export function register(program: Command, run: Run): void {
  const audit = program.command("audit")
    .description(
      "the issuer's audit log: registrations, verifications, grants, issuance, denials, revocations",
    )
    .option(
      "--db <file|url>",
      "the issuer's SQLite file or postgres:// URL (env AUTH4AGENT_DB; default ./auth4agent.db)",
    );

  audit.command("list")
    .description("print audit entries in order")
    .option("--after <seq>", "start after this entry number")
    .option("--limit <n>", "at most this many entries (default 100)")
    .action((options, command) =>
      run(command, async (ctx) => {
        const config = resolveServeConfig({
          db: (command.optsWithGlobals() as { db?: string }).db,
        }, ctx.io.env);
        const entries = await withStore(config.db, (store) =>
          listAudit(store, {
            afterSeq: count("--after", options.after, 0),
            limit: count("--limit", options.limit, 100),
          }), { create: false });
        ctx.print(
          entries.map((e) => ({ ...e, at: e.at.toISOString() })),
          entries.length === 0
            ? ["no entries"]
            : entries.map((e) =>
              `${e.seq}  ${e.at.toISOString()}  ${
                e.outcome === "denied" ? "DENIED " : ""
              }${e.action}  ${e.actor} → ${e.target}${
                e.reason ? `  (${e.reason})` : ""
              }`
            ),
        );
      })
    );

  audit.command("verify")
    .description(
      "check the hash chain: exit 1 if any entry was changed, removed or reordered",
    )
    .action((_options, command) =>
      run(command, async (ctx) => {
        const config = resolveServeConfig({
          db: (command.optsWithGlobals() as { db?: string }).db,
        }, ctx.io.env);
        const result = await withStore(config.db, verifyAudit, {
          create: false,
        });
        ctx.print(
          result,
          result.ok
            ? `audit log intact: ${result.entries} entries, head ${result.lastHash}`
            : `audit log BROKEN at entry ${result.broken!.seq}: ${
              result.broken!.reason
            }`,
        );
        if (!result.ok) {
          fail(
            "ERR_AUDIT_BROKEN",
            `the audit log was tampered with at entry ${result.broken!.seq}`,
          );
        }
      })
    );
}
