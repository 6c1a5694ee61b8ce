/**
 * The peer: panva's oidc-provider (bench/peer/, its own package.json and
 * package-lock.json), installed here by the bench with `npm ci` and run with
 * the machine's Node, pinned to the server CPU — see bench/peer/server.mjs
 * for its configuration.
 */
import type { Agent } from "./ours.ts";
import { pinned, run, type Started, startListening } from "./procs.ts";

const PEER_DIR = new URL("./peer", import.meta.url).pathname;
/** Flow (c) on the peer introspects its opaque tokens, issued for this resource. */
export const OPAQUE_RESOURCE = "https://introspect.example.com";

export interface PeerServer {
  name: "oidc-provider";
  process: Started;
  issuer: string;
  port: number;
  paths: { token: string; introspect: string };
  version: string;
  node: string;
  stop(): Promise<void>;
}

async function installedVersion(): Promise<string | undefined> {
  try {
    const manifest = JSON.parse(
      await Deno.readTextFile(
        `${PEER_DIR}/node_modules/oidc-provider/package.json`,
      ),
    );
    return manifest.version;
  } catch {
    return undefined;
  }
}

/** `npm ci` in bench/peer unless the locked oidc-provider is already installed. */
export async function installPeer(
  log: (line: string) => void,
): Promise<string> {
  const lock = JSON.parse(
    await Deno.readTextFile(`${PEER_DIR}/package-lock.json`),
  );
  const wanted = lock.packages["node_modules/oidc-provider"].version as string;
  if (await installedVersion() !== wanted) {
    log(`installing oidc-provider ${wanted} (npm ci in bench/peer)…`);
    await run("npm", ["ci", "--no-audit", "--no-fund"], { cwd: PEER_DIR });
  }
  return wanted;
}

export async function startPeer(
  options: {
    agents: Agent[];
    scope: string;
    resource: string;
    cpu?: number;
    tmpDir: string;
    lruMaxSize: number;
  },
): Promise<PeerServer> {
  const configFile = `${options.tmpDir}/peer-config.json`;
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      clients: options.agents.map((agent) => ({
        client_id: agent.clientId,
        jwk: agent.publicJwk,
      })),
      scope: options.scope,
      jwtResource: options.resource,
      opaqueResource: OPAQUE_RESOURCE,
      lruMaxSize: options.lruMaxSize,
    }),
  );
  const command = pinned(options.cpu, "node", [
    `${PEER_DIR}/server.mjs`,
    configFile,
  ]);
  const process = await startListening(command.cmd, command.args, {
    cwd: PEER_DIR,
    env: { NODE_ENV: "production" },
  });
  return {
    name: "oidc-provider",
    process,
    issuer: String(process.info.issuer),
    port: Number(String(process.info.address).split(":").pop()),
    paths: { token: "/token", introspect: "/token/introspection" },
    version: String(process.info.oidc_provider),
    node: String(process.info.node),
    stop: async () => void await process.stop(),
  };
}
