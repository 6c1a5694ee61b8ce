/**
 * The audit log is a hash chain: each entry's hash covers the previous hash
 * and the entry itself, so changing, removing or reordering any entry breaks
 * every hash after it (`auth4agent audit verify`).
 */
import { createHash } from "node:crypto";
import type { AuditEntry, AuditEvent } from "./store.ts";

export const GENESIS_HASH = "0".repeat(64);

export function auditHash(
  prevHash: string,
  event: AuditEvent,
  seq: number,
): string {
  // Text as stored: a database keeps an unpaired surrogate as U+FFFD, so the
  // hash is made over that, or the entry would fail its own check.
  const text = (value: string) => value.toWellFormed();
  const canonical = JSON.stringify([
    seq,
    event.at.getTime(),
    text(event.actor),
    text(event.action),
    text(event.target),
    event.outcome,
    event.reason === undefined ? null : text(event.reason),
  ]);
  return createHash("sha256").update(prevHash).update(canonical).digest("hex");
}

export interface ChainCheck {
  ok: boolean;
  entries: number;
  /** The first entry that does not fit the chain, and why. */
  broken?: { seq: number; reason: string };
  lastHash: string;
}

/** Checks entries in order, continuing from `state` (pages of a long log). */
export function checkChain(
  entries: readonly AuditEntry[],
  state: { expectedSeq: number; prevHash: string } = {
    expectedSeq: 1,
    prevHash: GENESIS_HASH,
  },
): ChainCheck & { next: { expectedSeq: number; prevHash: string } } {
  let { expectedSeq, prevHash } = state;
  let count = 0;
  for (const entry of entries) {
    const fail = (reason: string) => ({
      ok: false,
      entries: count,
      broken: { seq: entry.seq, reason },
      lastHash: prevHash,
      next: { expectedSeq, prevHash },
    });
    if (entry.seq !== expectedSeq) {
      return fail(
        `expected entry ${expectedSeq}, found ${entry.seq} (an entry is missing)`,
      );
    }
    if (entry.prevHash !== prevHash) {
      return fail("prev_hash does not match the previous entry's hash");
    }
    if (entry.hash !== auditHash(prevHash, entry, entry.seq)) {
      return fail("hash does not match the entry's contents");
    }
    prevHash = entry.hash;
    expectedSeq++;
    count++;
  }
  return {
    ok: true,
    entries: count,
    lastHash: prevHash,
    next: { expectedSeq, prevHash },
  };
}
