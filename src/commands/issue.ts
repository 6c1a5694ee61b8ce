/**
 * `auth4agent issue --scope S --aud A`: challenge → proof signed with the
 * agent's key → scoped token. Prints the JWT alone, so
 * `TOKEN=$(auth4agent issue …)` works; `--json` prints the whole response.
 * Delegation (RFC 8693): `--delegate-to DID` asks for a token that lets that
 * agent act for this one; that agent trades it with `--subject-token JWT`.
 * `--dpop` binds the token to the agent's key (RFC 9449).
 */
import type { Command } from "@commander-js/extra-typings";
import { fail } from "../core/errors.ts";
import { formatScope, parseScopeList } from "../core/scope.ts";
import { agentIdentity } from "./identity.ts";
import type { Run } from "./registry.ts";

export function register(program: Command, run: Run): void {
  program.command("issue")
    .description("obtain a short-lived, scoped access token for this agent")
    .option(
      "--scope <scopes...>",
      "scopes to ask for (default: the whole grant)",
    )
    .option(
      "--aud <audience>",
      "the audience the token is for, e.g. api.example.com",
    )
    .option(
      "--ttl <seconds>",
      "ask for a shorter lifetime (the issuer caps it)",
    )
    .option(
      "--delegate-to <did>",
      "instead of a token, a delegation letting the agent <did> (of your domain) act for you; it trades it with --subject-token",
    )
    .option(
      "--subject-token <jwt>",
      "act for another agent: a token of theirs made with --delegate-to naming this agent",
    )
    .option(
      "--dpop",
      "bind the token to this agent's key (DPoP, RFC 9449): each request then needs a proof from `auth4agent dpop-proof`",
    )
    .action((options, command) =>
      run(command, async (ctx) => {
        const { file, privateKey, key } = await agentIdentity(ctx);
        if (!file.operator_id) {
          fail(
            "ERR_HOME_MISSING",
            "the agent is not registered yet; run `auth4agent register agent --operator-id ID`",
          );
        }
        if (options.delegateTo !== undefined && options.aud !== undefined) {
          fail(
            "ERR_USAGE",
            "--delegate-to makes a delegation, traded at the issuer only: leave out --aud (the agent that trades it names the audience)",
          );
        }
        if (options.delegateTo !== undefined && options.dpop) {
          fail(
            "ERR_USAGE",
            "--delegate-to makes a delegation for another agent, which does not hold this agent's key: leave out --dpop (that agent may use --dpop when it trades it)",
          );
        }
        let expiresIn: number | undefined;
        if (options.ttl !== undefined) {
          if (
            !/^[0-9]{1,9}$/.test(options.ttl) || Number(options.ttl) < 1
          ) fail("ERR_USAGE", "--ttl must be a positive number of seconds");
          expiresIn = Number(options.ttl);
        }
        const scope = options.scope
          ? formatScope(parseScopeList(options.scope))
          : undefined;
        const response = await ctx.client(file.server).issueToken(
          file.did,
          privateKey,
          {
            scope,
            audience: options.aud,
            expiresIn,
            mayAct: options.delegateTo,
            subjectToken: options.subjectToken,
            dpop: options.dpop ? key : undefined,
          },
        );
        ctx.print(response, response.access_token);
      })
    );
}
