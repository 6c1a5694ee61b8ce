/**
 * The WAL checkpointer, a worker thread with its own connection. Copying the
 * WAL back into the database file (and fsyncing it) took tens of
 * milliseconds when SQLite did it inside a commit on the event loop, which
 * showed as p99 latency spikes; here it runs beside the requests instead.
 * PASSIVE checkpoints never wait for readers or writers, so they can only
 * fall behind, never block anyone. Protocol: → { path }, then { stop: true }
 * (← { stopped: true }).
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";

/** How often the WAL is copied back. */
const INTERVAL_MS = 100;

let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setInterval> | undefined;

self.onmessage = (event: MessageEvent) => {
  const message = event.data;
  if (message.path !== undefined) {
    db = new DatabaseSync(message.path);
    db.exec("PRAGMA busy_timeout = 5000");
    timer = setInterval(() => {
      try {
        db!.exec("PRAGMA wal_checkpoint(PASSIVE)");
      } catch {
        // Busy or closing: the next round tries again.
      }
    }, INTERVAL_MS);
  } else if (message.stop) {
    clearInterval(timer);
    try {
      db?.exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch { /* the next start checkpoints */ }
    db?.close();
    self.postMessage({ stopped: true });
  }
};
