/**
 * Writes of a file-backed SQLite store go to a worker thread that owns the
 * write connection (sqlite_writer_worker.ts), so the commit's fsync (~0.8 ms
 * here, which blocked every request while it ran in this thread) overlaps
 * with request handling. One batch is in flight at a time: while the worker
 * commits it, new writes gather, and all of them go as the next batch — the
 * batch grows with the load. Callers hear back only after COMMIT.
 */
import { setImmediate } from "node:timers";
import { Auth4AgentError, type ErrorCode } from "../core/errors.ts";
import type { Outcome, Write } from "./group_commit.ts";
import type {
  WriteArgs,
  WriteName,
  Writer,
  WriteResult,
} from "./sqlite_writes.ts";
import type { SerializedError } from "./sqlite_writer_worker.ts";
import { DuplicateError } from "./store.ts";

function rebuild(error: SerializedError): Error {
  if (error.kind === "duplicate") return new DuplicateError(error.message);
  if (error.kind === "auth4agent") {
    return new Auth4AgentError(error.code as ErrorCode, error.message);
  }
  return new Error(error.message);
}

interface Pending extends Write {
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export class WorkerWriter implements Writer {
  readonly #worker: Worker;
  #gathering: Pending[] = [];
  #inFlight: Pending[] | undefined;
  #sendScheduled = false;
  #closing?: Promise<void>;
  #onClosed?: () => void;

  constructor(path: string) {
    this.#worker = new Worker(
      new URL("./sqlite_writer_worker.ts", import.meta.url).href,
      { type: "module" },
    );
    this.#worker.onmessage = (event: MessageEvent) => this.#answer(event.data);
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#answer({
        failed: {
          kind: "other",
          message: `the SQLite writer stopped: ${event.message}`,
        },
      });
    };
    this.#worker.postMessage({ path });
  }

  submit<K extends WriteName>(
    name: K,
    args: WriteArgs<K>,
  ): Promise<WriteResult<K>> {
    if (this.#closing) return Promise.reject(new Error("the store is closed"));
    return new Promise((resolve, reject) => {
      this.#gathering.push({
        name,
        args,
        resolve: resolve as (value: unknown) => void,
        reject,
      });
      this.#scheduleSend();
    });
  }

  /** Sends what gathered once this loop turn is over, unless a batch is in flight. */
  #scheduleSend(): void {
    if (this.#inFlight || this.#sendScheduled || this.#gathering.length === 0) {
      return;
    }
    this.#sendScheduled = true;
    setImmediate(() => {
      this.#sendScheduled = false;
      if (this.#inFlight || this.#gathering.length === 0) return;
      this.#inFlight = this.#gathering;
      this.#gathering = [];
      this.#worker.postMessage({
        writes: this.#inFlight.map(({ name, args }) => ({ name, args })),
      });
    });
  }

  #answer(
    message: {
      outcomes?: Outcome[];
      failed?: SerializedError;
      closed?: boolean;
    },
  ): void {
    if (message.closed) return this.#onClosed?.();
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    batch.forEach(({ resolve, reject }, i) => {
      const outcome = message.outcomes?.[i];
      if (outcome?.ok) resolve(outcome.value);
      else {reject(
          rebuild((outcome?.error ?? message.failed) as SerializedError),
        );}
    });
    this.#scheduleSend();
    if (this.#closing && !this.#inFlight && this.#gathering.length === 0) {
      this.#worker.postMessage({ close: true });
    }
  }

  /** Lets every submitted write commit, then stops the worker. */
  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#onClosed = resolve;
      if (
        !this.#inFlight && this.#gathering.length === 0 && !this.#sendScheduled
      ) {
        this.#worker.postMessage({ close: true });
      }
    }).then(() => this.#worker.terminate());
    return this.#closing;
  }
}
