/** Reading a body from outside without letting it decide how much we read. */

/**
 * The bytes of `body`, or undefined once they pass `max` (the rest is
 * cancelled unread). A stream that breaks off throws as it does.
 */
export async function readCappedBody(
  body: ReadableStream<Uint8Array> | null,
  max: number,
): Promise<Uint8Array | undefined> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Leaving the loop early cancels the rest of the body.
  for await (const chunk of body ?? []) {
    size += chunk.byteLength;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  return joinChunks(chunks, size);
}

/** The chunks of a body read piece by piece, `size` bytes in all, as one array. */
export function joinChunks(
  chunks: readonly Uint8Array[],
  size: number,
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}
