/** Recording what happened, for `auth4agent audit` and incident review. */
import type { AuditEvent } from "../store/store.ts";
import type { AppDeps } from "./context.ts";

export async function audit(
  deps: AppDeps,
  event: Omit<AuditEvent, "at" | "outcome"> & {
    outcome?: AuditEvent["outcome"];
  },
): Promise<void> {
  await deps.store.appendAudit({
    at: deps.now(),
    outcome: "success",
    ...event,
  });
}
