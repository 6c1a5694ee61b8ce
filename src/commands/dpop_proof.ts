/**
 * `auth4agent dpop-proof --url URL [--method M] [--token JWT]`: a DPoP proof
 * (RFC 9449) signed with this agent's key, for one request: send it as the
 * `DPoP` header along `Authorization: DPoP <token>` when calling an API with
 * a token from `issue --dpop`. A proof serves once; make one per request.
 */
import type { Command } from "@commander-js/extra-typings";
import { createDpopProof, HTTP_METHOD, targetUri } from "../core/dpop.ts";
import { fail } from "../core/errors.ts";
import { inspectJws } from "../core/jws.ts";
import { type Ed25519PublicJwk, thumbprint } from "../core/keys.ts";
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
        if (options.token !== undefined) {
          await requireBoundTo(options.token, key.publicJwk);
        }
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

/**
 * A proof for a token bound to another key (or to none) could only be
 * refused: say so now. The token is read, not verified: the API verifies it.
 */
async function requireBoundTo(
  token: string,
  publicJwk: Ed25519PublicJwk,
): Promise<void> {
  let jkt: unknown;
  try {
    jkt = (inspectJws(token, "ERR_USAGE").payload.cnf as { jkt?: unknown })
      ?.jkt;
  } catch {
    fail("ERR_USAGE", "--token is not a JWT");
  }
  if (jkt === undefined) {
    fail(
      "ERR_USAGE",
      "--token is not DPoP-bound: send it as a Bearer token, without a proof",
    );
  }
  if (jkt !== await thumbprint(publicJwk)) {
    fail(
      "ERR_USAGE",
      "--token is bound to another key than this agent's: its holder makes its proofs",
    );
  }
}
