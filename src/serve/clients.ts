/**
 * Looking up who is acting: an agent by DID or an operator by id, with their
 * registered keys, refusing agents that are suspended or revoked.
 */
import { parseAgentDid } from "../core/did.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { importPublicJwk } from "../core/keys.ts";
import type {
  AgentRecord,
  GrantRecord,
  OperatorRecord,
} from "../store/store.ts";
import type { AppDeps } from "./context.ts";

export type Principal =
  | {
    kind: "agent";
    id: string;
    agent: AgentRecord;
    /** The agent's operator and grant, read with it (a token request checks both). */
    operator: OperatorRecord;
    grant?: GrantRecord;
    publicKey: CryptoKey;
  }
  | {
    kind: "operator";
    id: string;
    operator: OperatorRecord;
    publicKey: CryptoKey;
  };

export const OPERATOR_ID = /^op_[0-9a-f]{32}$/;

/** Keys are imported once per principal and cached (bounded). */
const keyCache = new Map<string, CryptoKey>();
const MAX_CACHED_KEYS = 10_000;

async function keyFor(x: string): Promise<CryptoKey> {
  let key = keyCache.get(x);
  if (!key) {
    key = await importPublicJwk({ kty: "OKP", crv: "Ed25519", x });
    if (keyCache.size >= MAX_CACHED_KEYS) {
      keyCache.delete(keyCache.keys().next().value!);
    }
    keyCache.set(x, key);
  }
  return key;
}

export function requireActive(agent: AgentRecord): void {
  if (agent.status === "suspended") {
    fail(
      "ERR_AGENT_SUSPENDED",
      `agent ${agent.did} is suspended by its operator`,
    );
  }
  if (agent.status === "revoked") {
    fail("ERR_AGENT_REVOKED", `agent ${agent.did} is revoked`);
  }
}

/** Finds a registered, active principal by its identifier, or throws `unknownCode`. */
export async function findPrincipal(
  deps: AppDeps,
  id: string,
  unknownCode: "ERR_INVALID_CLIENT" | "ERR_REQUEST_SIGNATURE_INVALID",
): Promise<Principal> {
  if (id.startsWith("did:")) {
    try {
      parseAgentDid(id);
    } catch (cause) {
      throw new Auth4AgentError(unknownCode, (cause as Error).message, {
        cause,
      });
    }
    const standing = await deps.store.getAgentStanding(id);
    if (!standing) fail(unknownCode, `agent ${id} is not registered`);
    const { agent, operator, grant } = standing;
    requireActive(agent);
    return {
      kind: "agent",
      id,
      agent,
      operator,
      grant,
      publicKey: await keyFor(agent.publicJwk.x),
    };
  }
  if (OPERATOR_ID.test(id)) {
    const operator = await deps.store.getOperator(id);
    if (!operator) fail(unknownCode, `operator ${id} is not registered`);
    return {
      kind: "operator",
      id,
      operator,
      publicKey: await keyFor(operator.publicJwk.x),
    };
  }
  fail(
    unknownCode,
    `${
      JSON.stringify(id.slice(0, 100))
    } is neither an agent DID nor an operator id`,
  );
}
