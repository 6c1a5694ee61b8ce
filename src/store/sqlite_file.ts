/**
 * The SQLite database file holds the issuer's signing keys (in plaintext
 * unless a key-encryption key is given), every agent and the audit log, so it
 * is made readable by its owner alone; an existing one that others can read
 * is refused rather than used. SQLite gives its -wal and -shm files the
 * database file's mode.
 */
import { Auth4AgentError, fail } from "../core/errors.ts";
import { requireOwnerOnly } from "../core/file_mode.ts";

const COMPANIONS = ["", "-wal", "-shm"];

/**
 * Makes sure `path` is a database file only its owner can read: created
 * empty with mode 0600 when missing (unless `create` is false: then missing
 * is an error, for commands that only read), refused when group or others
 * have any access to it or its -wal / -shm.
 */
export function prepareDatabaseFile(
  path: string,
  options: { create: boolean },
): void {
  if (path === ":memory:") return;
  if (!exists(path)) {
    if (!options.create) fail("ERR_CONFIG", `no database at ${path}`);
    try {
      Deno.openSync(path, { write: true, createNew: true, mode: 0o600 })
        .close();
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) {
        throw new Auth4AgentError(
          "ERR_CONFIG",
          `cannot create the database ${path}: ${error}`,
          { cause: error },
        );
      }
    }
  }
  for (const suffix of COMPANIONS) {
    const file = path + suffix;
    const info = statOrUndefined(file);
    if (!info) continue;
    if (!info.isFile) fail("ERR_CONFIG", `the database ${file} is not a file`);
    requireOwnerOnly(file, info.mode, "ERR_CONFIG");
  }
}

function exists(path: string): boolean {
  return statOrUndefined(path) !== undefined;
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Auth4AgentError(
      "ERR_CONFIG",
      `cannot read the database ${path}: ${error}`,
      { cause: error },
    );
  }
}
