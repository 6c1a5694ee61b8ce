/** Setting up operators and agents through the CLI, for end-to-end tests beyond the Quick Start. */
import assert from "node:assert/strict";
import { startDnsServer, type TestDnsServer } from "./dns_server.ts";
import {
  cli,
  type CliResult,
  type ServerProcess,
  startServerProcess,
} from "./process.ts";

export function ok(result: CliResult, what: string): CliResult {
  assert.equal(result.code, 0, `${what} failed:\n${result.stderr}`);
  return result;
}

export function refused(result: CliResult, code: string, exit = 1): void {
  assert.equal(
    result.code,
    exit,
    `expected exit ${exit}, got ${result.code}: ${result.stderr}`,
  );
  assert.match(result.stderr, new RegExp(`\\(${code}\\)`), result.stderr);
}

/** init + register + DNS publish + confirm: returns the operator id. */
export async function verifiedOperator(
  home: string,
  domain: string,
  server: string,
  dns: TestDnsServer,
): Promise<string> {
  ok(
    await cli(["init", "--operator", "--domain", domain, "--server", server], {
      home,
    }),
    "init --operator",
  );
  const id = JSON.parse(
    ok(
      await cli(["register", "operator", "--json"], { home }),
      "register operator",
    ).stdout,
  ).operator_id;
  const record = JSON.parse(
    ok(
      await cli(["verify-operator", "instructions", "--json"], { home }),
      "instructions",
    ).stdout,
  );
  dns.setTxt(record.name, [[record.value]]);
  ok(await cli(["verify-operator", "confirm"], { home }), "confirm");
  return id;
}

/** init + register an agent in `home`: returns its DID. */
export async function registeredAgent(
  home: string,
  domain: string,
  server: string,
  operatorId: string,
): Promise<string> {
  ok(
    await cli(["init", "--domain", domain, "--server", server], { home }),
    "init agent",
  );
  return JSON.parse(
    ok(
      await cli(["register", "agent", "--operator-id", operatorId, "--json"], {
        home,
      }),
      "register agent",
    ).stdout,
  ).did;
}

/**
 * An operator of `domain` at `issuer` and its agent, in one home under the
 * issuer's folder, granted `scopes`: the agent's DID and its CLI.
 */
export async function grantedAgent(
  issuer: { dir: string; url: string; dns: TestDnsServer },
  domain: string,
  scopes: string,
): Promise<{ did: string; cli: (...args: string[]) => Promise<CliResult> }> {
  const home = `${issuer.dir}/${domain}`;
  const did = await registeredAgent(
    home,
    domain,
    issuer.url,
    await verifiedOperator(home, domain, issuer.url, issuer.dns),
  );
  const agentCli = (...args: string[]) => cli(args, { home });
  ok(await agentCli("agent-scopes", "set", "--scopes", scopes), "the grant");
  return { did, cli: agentCli };
}

/** A federation file (`serve --federation-file`) at `path` trusting `peers`. */
export async function writeFederationFile(
  path: string,
  peers: { issuer: string; domains: string[]; scopes: string[] }[],
): Promise<string> {
  await Deno.writeTextFile(path, JSON.stringify({ peers }));
  return path;
}

/**
 * A real `serve` process on SQLite in a temporary folder, resolving through a
 * loopback DNS server; after `body`, stopped (it must exit 0) and removed.
 */
export async function withIssuerProcess(
  prefix: string,
  body: (issuer: {
    dir: string;
    url: string;
    dns: TestDnsServer;
    server: ServerProcess;
  }) => Promise<void>,
  /** More `serve` flags, e.g. `--workload-issuer URL`. */
  serveArgs: string[] = [],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  const dns = await startDnsServer();
  const server = await startServerProcess([
    "--db",
    `${dir}/issuer.db`,
    "--dns-server",
    dns.address,
    ...serveArgs,
  ]);
  try {
    await body({ dir, dns, server, url: `http://localhost:${server.port}` });
  } finally {
    assert.equal(await server.stop(), 0);
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
}
