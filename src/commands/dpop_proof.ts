/**
 * `auth4agent dpop-proof --url URL [--method M] [--token JWT]`: a DPoP proof
 * (RFC 9449) signed with this agent's key, for one request: send it as the
 * `DPoP` header along `Authorization: DPoP <token>` when calling an API with
 * a token from `issue --dpop`. A proof serves once; make one per request.
 */
import type { Command } from "@commander-js/extra-typings";
import { createDpopProof, HTTP_METHOD, targetUri } from "../core/dpop.ts";
import { fail } from "../core/errors.ts";
import { agentIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("dpop-proof")
    .description(
      "make a DPoP proof for one request with a token from `issue --dpop`",
    )
    .requiredOption("--url <url>", "the URL the request goes to")
    .option("--method <method>", "the request's HTTP method", "GET")
    .option(
      "--token <jwt>",
      "the access token sent with the request (its hash goes in the proof)",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        if (targetUri(options.url) === undefined) {
          fail(
            "ERR_USAGE",
            "--url must be an http(s) URL without user or password",
          );
        }
        if (!HTTP_METHOD.test(options.method)) {
          fail("ERR_USAGE", "--method must be an HTTP method, e.g. GET");
        }
        const { key } = await agentIdentity(ctx);
        const proof = createDpopProof({
          ...key,
          method: options.method,
          url: options.url,
          accessToken: options.token,
          now: ctx.io.now(),
        });
        ctx.print({ dpop: proof }, proof);
      })
    );
}
