/**
 * The WAL checkpointer, a worker thread with its own connection. Copying the
 * WAL back into the database file (and fsyncing it) took tens of
 * milliseconds when SQLite did it inside a commit on the event loop, which
 * showed as p99 latency spikes; here it runs beside the requests instead.
 *
 * PASSIVE checkpoints never wait for anyone, but under sustained writes they
 * never catch up either: the writer appends while a pass copies, so the WAL
 * is never fully copied back, SQLite never starts it over, and it grows
 * without bound (measured: 570 MB in 10 s of load, for a 33 MB database),
 * every commit extending the file. So once the WAL is past RESTART_FRAMES,
 * the worker asks the writer to hold its commits for one short final pass
 * (only what was appended during the last pass): with the WAL fully copied
 * and nobody writing, the writer's next transaction starts the WAL over from
 * its beginning. The writer keeps serving reads meanwhile, and being held it
 * never meets the final pass's lock. That pass is a RESTART checkpoint: it
 * also waits out, and briefly blocks, the writers of other processes on the
 * same file, which a hold cannot reach (two instances on one file grew the WAL
 * to 934 MB in 4 s with a PASSIVE final pass).
 *
 * Protocol: → { path }; ← { hold: true } → { held: true } … ← { resume: true };
 * → { stop: true } ← { stopped: true }.
 */
/// <reference lib="deno.worker" />
import { DatabaseSync } from "node:sqlite";

/** Pause between passes while the WAL is small. */
const INTERVAL_MS = 50;
/**
 * WAL size (frames of one page) from which the writer is held for a final
 * pass: 8,000 ≈ 32 MB. Each hold pauses commits for a few ms (two fsyncs);
 * at 2,000 frames that was 6 holds a second under load, showing in p99.
 */
const RESTART_FRAMES = 8_000;

let db: DatabaseSync | undefined;
let timer: ReturnType<typeof setTimeout> | undefined;
let stopping = false;
let held: (() => void) | undefined;

interface CheckpointResult {
  /** Frames in the WAL. */
  log: number;
  /** Frames copied back so far. */
  checkpointed: number;
}

function checkpoint(
  mode: "PASSIVE" | "RESTART",
): CheckpointResult | undefined {
  try {
    const row = db!.prepare(`PRAGMA wal_checkpoint(${mode})`).get() as Record<
      string,
      unknown
    >;
    return { log: Number(row.log), checkpointed: Number(row.checkpointed) };
  } catch {
    return undefined; // busy or closing: the next round tries again
  }
}

/** Asks the writer to hold its commits; resolves once it holds. */
function holdWriter(): Promise<void> {
  return new Promise((resolve) => {
    held = resolve;
    self.postMessage({ hold: true });
  });
}

async function round(): Promise<void> {
  const result = checkpoint("PASSIVE");
  if (result && result.log >= RESTART_FRAMES && !stopping) {
    await holdWriter();
    try {
      checkpoint("RESTART"); // the tail, with nobody appending
    } finally {
      self.postMessage({ resume: true });
    }
  }
  if (!stopping) timer = setTimeout(round, INTERVAL_MS);
}

self.onmessage = (event: MessageEvent) => {
  const message = event.data;
  if (message.path !== undefined) {
    db = new DatabaseSync(message.path);
    db.exec("PRAGMA busy_timeout = 5000");
    // A checkpoint syncs the WAL before copying it back and the database
    // file before the WAL may be reused (the write connection runs NORMAL).
    db.exec("PRAGMA synchronous = FULL");
    timer = setTimeout(round, INTERVAL_MS);
  } else if (message.held) {
    held?.();
    held = undefined;
  } else if (message.stop) {
    stopping = true;
    clearTimeout(timer);
    held?.();
    checkpoint("PASSIVE");
    db?.close();
    self.postMessage({ stopped: true });
  }
};
