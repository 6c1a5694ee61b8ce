/** Recording what happened, for `auth4agent audit` and incident review. */
import type { AuditEvent } from "../store/store.ts";
import type { AppDeps } from "./context.ts";

type EventFields = Omit<AuditEvent, "at" | "outcome"> & {
  outcome?: AuditEvent["outcome"];
};

/** The event, stamped now; a success unless it says otherwise. */
export function auditEvent(deps: AppDeps, event: EventFields): AuditEvent {
  return { at: deps.now(), outcome: "success", ...event };
}

/**
 * Appends an event on its own: for refusals, which change nothing. A change
 * passes its event to the store write that makes it (one transaction).
 */
export async function audit(deps: AppDeps, event: EventFields): Promise<void> {
  await deps.store.appendAudit(auditEvent(deps, event));
}
