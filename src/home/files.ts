/**
 * File access under the home folder: folders checked before what they hold
 * is trusted (a folder, not a link; the user's own; writable by no one
 * else), small regular files read with a cap (a FIFO, a device or a huge file
 * is refused, not read), and atomic writes that leave no temporary file
 * behind when they fail.
 */
import { Auth4AgentError, type ErrorCode, fail } from "../core/errors.ts";

/** Identity and key files are a few hundred bytes. */
export const SMALL_FILE_BYTES = 64 * 1024;

let uidProbe: Promise<number | null> | undefined;

/**
 * The user this process runs as; null where files have no owner (Windows).
 * When it cannot be told, the owner checks cannot be made, and that fails
 * (ERR_KEY_PERMISSIONS) rather than trusting files of any owner.
 */
export function currentUid(): Promise<number | null> {
  uidProbe ??= probeUid();
  return uidProbe;
}

async function probeUid(): Promise<number | null> {
  // Deno.uid() needs --allow-sys=uid (the tasks and the binary grant it);
  // asked without it, `deno run` in a terminal would prompt, so ask first.
  if (
    Deno.permissions.querySync({ name: "sys", kind: "uid" }).state === "granted"
  ) {
    return Deno.uid();
  }
  try {
    // The owner of a file this process creates is this process's user.
    const probe = await Deno.makeTempFile({ prefix: "auth4agent-uid-" });
    try {
      return (await Deno.lstat(probe)).uid;
    } finally {
      await removeQuietly(probe);
    }
  } catch (error) {
    throw new Auth4AgentError(
      "ERR_KEY_PERMISSIONS",
      `cannot tell which user runs auth4agent, so the home folder's owner cannot be checked: grant --allow-sys=uid or a writable temporary folder (${
        reason(error)
      })`,
      { cause: error },
    );
  }
}

function reason(error: unknown): string {
  return (error as Error)?.message ?? String(error);
}

function wrapped(code: ErrorCode, message: string, error: unknown): Error {
  if (error instanceof Auth4AgentError) return error;
  return new Auth4AgentError(code, `${message}: ${reason(error)}`, {
    cause: error,
  });
}

export function cannotWrite(path: string, error: unknown): Error {
  return wrapped("ERR_HOME_INVALID", `cannot write ${path}`, error);
}

export function cannotRead(path: string, error: unknown): Error {
  return wrapped("ERR_HOME_INVALID", `cannot read ${path}`, error);
}

/** Refuses what another user owns (when this process's user can be told). */
export async function requireOwn(
  path: string,
  info: Deno.FileInfo,
  code: ErrorCode = "ERR_KEY_PERMISSIONS",
): Promise<void> {
  const uid = await currentUid();
  if (uid !== null && info.uid !== null && info.uid !== uid) {
    fail(code, `${path} is owned by another user (uid ${info.uid})`);
  }
}

/**
 * Whether the folder `path` exists; refused when it is not a folder (or is a
 * symbolic link, unless `follow`), is another user's, or group or others may
 * write to it: whoever can write there can plant keys or a JWKS.
 */
export async function checkDir(
  path: string,
  follow: boolean,
): Promise<boolean> {
  let info: Deno.FileInfo;
  try {
    info = follow ? await Deno.stat(path) : await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw cannotRead(path, error);
  }
  if (info.isSymlink) {
    fail("ERR_HOME_INVALID", `${path} is a symbolic link, not a folder`);
  }
  if (!info.isDirectory) fail("ERR_HOME_INVALID", `${path} is not a folder`);
  await requireOwn(path, info);
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    fail(
      "ERR_KEY_PERMISSIONS",
      `${path} can be written by group or others (mode ${
        (info.mode & 0o777).toString(8)
      }); run chmod 700 ${path}`,
    );
  }
  return true;
}

/** The folder `path`, checked as by checkDir, or made (mode 0700) when there is none. */
export async function ensureDir(path: string, follow: boolean): Promise<void> {
  if (await checkDir(path, follow)) return;
  try {
    await Deno.mkdir(path, { mode: 0o700 });
    return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      // Missing parents too.
      try {
        await Deno.mkdir(path, { recursive: true, mode: 0o700 });
        return;
      } catch (inner) {
        throw cannotWrite(path, inner);
      }
    }
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      throw cannotWrite(path, error);
    }
  }
  // Made meanwhile by another run, or a dangling link.
  if (!await checkDir(path, follow)) {
    fail("ERR_HOME_INVALID", `${path} is a symbolic link to nothing`);
  }
}

export interface SmallFile {
  text: string;
  info: Deno.FileInfo;
}

/**
 * A regular file of at most `max` bytes (links followed), or undefined when
 * there is none; anything else (a folder, a FIFO, a device, a link loop, a
 * larger file, no access) fails with `code`, naming the file.
 */
export async function readSmallFile(
  path: string,
  max: number,
  code: ErrorCode = "ERR_HOME_INVALID",
): Promise<SmallFile | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw wrapped(code, `cannot read ${path}`, error);
  }
  if (!info.isFile) fail(code, `${path} is not a regular file`);
  if (info.size > max) fail(code, `${path} is larger than ${max} bytes`);
  try {
    return { text: await readAtMost(path, max), info };
  } catch (error) {
    throw wrapped(code, `cannot read ${path}`, error);
  }
}

async function readAtMost(path: string, max: number): Promise<string> {
  const file = await Deno.open(path, { read: true });
  try {
    const buffer = new Uint8Array(max + 1);
    let length = 0;
    while (length < buffer.length) {
      const read = await file.read(buffer.subarray(length));
      if (read === null) break;
      length += read;
    }
    if (length > max) throw new Error(`larger than ${max} bytes`);
    return new TextDecoder().decode(buffer.subarray(0, length));
  } finally {
    file.close();
  }
}

export async function removeQuietly(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
}

/** Writes `data` to a new temporary file beside `path`, synced; nothing is left when that fails. */
export async function writeTemp(path: string, data: string): Promise<string> {
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: 0o600 });
  } catch (error) {
    throw cannotWrite(path, error);
  }
  try {
    const bytes = new TextEncoder().encode(data);
    for (let done = 0; done < bytes.length;) {
      done += await file.write(bytes.subarray(done));
    }
    await file.sync();
  } catch (error) {
    file.close();
    await removeQuietly(temp);
    throw cannotWrite(path, error);
  }
  file.close();
  return temp;
}

/**
 * Moves a temporary file of writeTemp to `path`: over what is there when
 * `replace`, else only if nothing is (a hard link fails on an existing name,
 * so two runs cannot both create it): ERR_HOME_EXISTS. The temporary file is
 * gone afterwards either way.
 */
export async function commitTemp(
  temp: string,
  path: string,
  replace: boolean,
): Promise<void> {
  try {
    if (replace) await Deno.rename(temp, path);
    else await Deno.link(temp, path);
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) {
      fail("ERR_HOME_EXISTS", `${path} exists; pass --force to replace it`);
    }
    throw cannotWrite(path, error);
  } finally {
    await removeQuietly(temp);
  }
}

/** Makes a rename in the folder of `path` durable: a crash after it must not bring the old file back. */
export async function syncDir(path: string): Promise<void> {
  const dir = await Deno.open(path.slice(0, path.lastIndexOf("/")) || "/");
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}

/** Writes `data` to `path` atomically: a crash leaves the old file or the new one. */
export async function writeFileAtomic(
  path: string,
  data: string,
  replace: boolean,
): Promise<void> {
  await commitTemp(await writeTemp(path, data), path, replace);
  await syncDir(path);
}
