/**
 * Looking up who is acting: an agent by DID or an operator by id, with their
 * registered keys, refusing agents that are suspended or revoked.
 */
import { setWithin } from "../core/fifo.ts";
import { parseAgentDid } from "../core/did.ts";
import { Auth4AgentError, fail } from "../core/errors.ts";
import { ed25519PublicKey, type VerifyKey } from "../core/ed25519.ts";
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
    publicKey: VerifyKey;
  }
  | {
    kind: "operator";
    id: string;
    operator: OperatorRecord;
    publicKey: VerifyKey;
  };

export const OPERATOR_ID = /^op_[0-9a-f]{32}$/;

/**
 * Keys are imported once per principal and cached, for the hot set of
 * principals: 2,048 (as the store's standings), since with 100k agents
 * taking turns every entry and every import's garbage is server memory (the
 * RSS figure of bench/README.md); a miss costs an import of ≈ 10 µs.
 */
const keyCache = new Map<string, VerifyKey>();
const MAX_CACHED_KEYS = 2_048;

function keyFor(x: string): VerifyKey {
  let key = keyCache.get(x);
  if (!key) {
    key = ed25519PublicKey(x);
    setWithin(keyCache, x, key, MAX_CACHED_KEYS);
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
      publicKey: keyFor(agent.publicJwk.x),
    };
  }
  if (OPERATOR_ID.test(id)) {
    const operator = await deps.store.getOperator(id);
    if (!operator) fail(unknownCode, `operator ${id} is not registered`);
    return {
      kind: "operator",
      id,
      operator,
      publicKey: keyFor(operator.publicJwk.x),
    };
  }
  fail(
    unknownCode,
    `${
      JSON.stringify(id.slice(0, 100))
    } is neither an agent DID nor an operator id`,
  );
}
