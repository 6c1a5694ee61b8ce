/**
 * Answers wait until every commit so far is durable (app.ts), because reads
 * can see a commit before its WAL sync (src/store/wal_sync.ts). An endpoint
 * whose answer rests only on what it read before its own last write may mark
 * the answer instead: the store acknowledges that write only once a sync that
 * started after it finished, which covers every commit the endpoint could
 * have read. The mark spares these answers the wait for later commits' syncs
 * (quick cells at 32 connections measured +4% tokens/s, inside those cells'
 * noise: bench/README.md); nothing may be read after the write.
 */
const covered = new WeakSet<Response>();

/** Marks `response` as resting only on state its own (acknowledged) write made durable. */
export function coveredByItsWrite(response: Response): Response {
  covered.add(response);
  return response;
}

export function isCoveredByItsWrite(response: Response): boolean {
  return covered.has(response);
}
