/**
 * The writer worker: owns the SQLite write connection and commits each batch
 * it is sent in one transaction (group_commit.ts `runBatch`), off the main
 * thread. Protocol (structured clone):
 *   → { path } once; then { writes: Write[] } per batch; { close: true } last.
 *   ← { outcomes } per batch (errors as SerializedError) | { failed } | { closed: true }.
 */
/// <reference lib="deno.worker" />
import { Auth4AgentError } from "../core/errors.ts";
import { runBatch, type Write } from "./group_commit.ts";
import { SqliteConnection } from "./sqlite_connection.ts";
import { DuplicateError } from "./store.ts";

/** Errors cross the thread as data and are rebuilt as the same class (sqlite_writer.ts). */
export interface SerializedError {
  kind: "duplicate" | "auth4agent" | "other";
  message: string;
  code?: string;
}

function serialize(error: unknown): SerializedError {
  if (error instanceof DuplicateError) {
    return { kind: "duplicate", message: error.message };
  }
  if (error instanceof Auth4AgentError) {
    return { kind: "auth4agent", message: error.message, code: error.code };
  }
  return {
    kind: "other",
    message: error instanceof Error ? error.message : String(error),
  };
}

let connection: SqliteConnection | undefined;

self.onmessage = (event: MessageEvent) => {
  const message = event.data;
  if (message.path !== undefined) {
    connection = new SqliteConnection(message.path);
  } else if (message.writes) {
    try {
      const outcomes = runBatch(connection!, message.writes as Write[]).map((
        outcome,
      ) =>
        outcome.ok ? outcome : { ok: false, error: serialize(outcome.error) }
      );
      self.postMessage({ outcomes });
    } catch (error) {
      self.postMessage({ failed: serialize(error) });
    }
  } else if (message.close) {
    connection?.close();
    self.postMessage({ closed: true });
  }
};
