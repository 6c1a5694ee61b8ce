/** `auth4agent health [--server URL]`: the issuer's health and the local clock's skew against it. */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { requireServer } from "./identity.ts";
import type { Run } from "./registry.ts";

/** Skew beyond this is reported as a problem: tokens and proofs allow 30 s of leeway. */
const MAX_SKEW_MS = 30_000;

export function register(program: Command, run: Run): void {
  program.command("health")
    .description(
      "check the issuer's health and the local clock skew against it",
    )
    .option(
      "--server <url>",
      "the issuer (default: the server of this home folder)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const server = await requireServer(ctx, options.server);
        const sent = ctx.io.now().getTime();
        const health = await ctx.client(server).health();
        const received = ctx.io.now().getTime();
        const serverTime = typeof health.time === "string"
          ? Date.parse(health.time)
          : NaN;
        // The server read its clock somewhere in the round trip: compare with the midpoint.
        const skewMs = Number.isNaN(serverTime)
          ? null
          : Math.round((sent + received) / 2 - serverTime);
        const healthy = health.status === "ok" && health.http_status === 200;
        const result = {
          server,
          ...health,
          clock_skew_ms: skewMs,
          round_trip_ms: received - sent,
        };
        ctx.print(result, [
          `${server}: ${health.status ?? "unknown"} (version ${
            health.version ?? "?"
          }, database ${health.database ?? "?"})`,
          `clock skew: ${skewMs === null ? "unknown" : `${skewMs} ms`}${
            skewMs !== null && Math.abs(skewMs) > MAX_SKEW_MS
              ? " — too large, fix the clock"
              : ""
          }`,
        ]);
        if (!healthy) {
          fail("ERR_ISSUER_RESPONSE", `the issuer at ${server} is unhealthy`);
        }
        if (skewMs !== null && Math.abs(skewMs) > MAX_SKEW_MS) {
          fail(
            "ERR_ISSUER_RESPONSE",
            `the local clock is ${skewMs} ms off the issuer's`,
          );
        }
      })
    );
}
