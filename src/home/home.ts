/**
 * The local home folder (`--home`, `AUTH4AGENT_HOME`, default
 * `~/.auth4agent`): identity files and private keys. Keys are PKCS#8 PEM,
 * mode 0600 in a 0700 folder; a key readable by group or others is refused,
 * as ssh does, and so is a home, `keys/` or `cache/` folder that group or
 * others may write to or that another user owns (see files.ts). Files are
 * written atomically and never overwritten without `force`; commands that
 * change the identity hold the home's lock (withLock).
 */
import { Auth4AgentError, fail } from "../core/errors.ts";
import { requireOwnerOnly } from "../core/file_mode.ts";
import { importPrivateKeyPem, type KeyPair } from "../core/keys.ts";
import {
  cannotRead,
  cannotWrite,
  checkDir,
  commitTemp,
  currentUid,
  ensureDir,
  readSmallFile,
  removeQuietly,
  requireOwn,
  SMALL_FILE_BYTES,
  syncDir,
  writeFileAtomic,
  writeTemp,
} from "./files.ts";

export type Role = "operator" | "agent";

export interface OperatorFile {
  domain: string;
  server: string;
  operator_id?: string;
  created_at: string;
}

export interface AgentFile {
  did: string;
  domain: string;
  server: string;
  operator_id?: string;
  created_at: string;
}

export function defaultHome(env: (name: string) => string | undefined): string {
  const explicit = env("AUTH4AGENT_HOME");
  if (explicit) return explicit;
  const home = env("HOME") ?? env("USERPROFILE");
  if (!home) {
    fail(
      "ERR_HOME_MISSING",
      "set --home or AUTH4AGENT_HOME (no HOME in the environment)",
    );
  }
  return `${home}/.auth4agent`;
}

export class Home {
  #checked = false;

  constructor(readonly dir: string) {}

  path(...parts: string[]): string {
    return [this.dir, ...parts].join("/");
  }

  keyPath(role: Role): string {
    return this.path("keys", `${role}.key`);
  }

  /** Where a key rotation stages the new key (see stageKey). */
  stagedKeyPath(role: Role): string {
    return this.keyPath(role) + ".next";
  }

  /** Whether the home folder exists, once checked (see checkDir). */
  async #homeExists(): Promise<boolean> {
    this.#checked ||= await checkDir(this.dir, true);
    return this.#checked;
  }

  /**
   * Whether the folders holding `file` (a path inside the home: the home,
   * and `keys/` or `cache/`) exist, each checked; a link is followed for
   * the home only.
   */
  async #foldersOf(file: string): Promise<boolean> {
    if (!await this.#homeExists()) return false;
    const slash = file.lastIndexOf("/");
    return slash < 0 || await checkDir(this.path(file.slice(0, slash)), false);
  }

  /**
   * The folders holding `file`, made (0700) where missing. A folder that is
   * already there is never changed: a loose one is refused instead.
   */
  async #makeFoldersOf(file: string): Promise<void> {
    if (!this.#checked) await ensureDir(this.dir, true);
    this.#checked = true;
    const slash = file.lastIndexOf("/");
    if (slash >= 0) await ensureDir(this.path(file.slice(0, slash)), false);
  }

  async exists(file: string): Promise<boolean> {
    if (!await this.#foldersOf(file)) return false;
    try {
      await Deno.lstat(this.path(file));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw cannotRead(this.path(file), error);
    }
  }

  /**
   * Runs `work` holding an exclusive lock on `home.lock`, so that commands
   * that change this home's identity (init, register, set-server,
   * rotate-key) run one at a time, each reading the files afresh. The lock
   * goes with the process, so a crash leaves nothing to clean up. Without
   * `create`, a home that does not exist is not made: there is nothing to
   * protect, and `work` says what is missing.
   */
  async withLock<T>(
    work: () => Promise<T>,
    options: { create?: boolean } = {},
  ): Promise<T> {
    if (options.create) await this.#makeFoldersOf("home.lock");
    else if (!await this.#homeExists()) return await work();
    const path = this.path("home.lock");
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { write: true, create: true, mode: 0o600 });
    } catch (error) {
      throw cannotWrite(path, error);
    }
    try {
      await file.lock(true);
      return await work();
    } finally {
      file.close();
    }
  }

  async #write(file: string, data: string, force: boolean): Promise<void> {
    await this.#makeFoldersOf(file);
    await writeFileAtomic(this.path(file), data, force);
  }

  async writeKey(role: Role, pem: string, force: boolean): Promise<void> {
    await this.#write(`keys/${role}.key`, pem, force);
  }

  /**
   * A new identity: key and identity file, both or neither. Both are
   * written to temporary files first (where a full disk fails), then moved
   * in place; without `force` each name is taken exclusively
   * (ERR_HOME_EXISTS), and the key goes again if the identity file cannot
   * follow it.
   */
  async writeIdentity(
    role: Role,
    pem: string,
    identity: OperatorFile | AgentFile,
    force: boolean,
  ): Promise<void> {
    await this.#makeFoldersOf(`keys/${role}.key`);
    const keyPath = this.keyPath(role);
    const filePath = this.path(`${role}.json`);
    if (force) {
      await replaceable(keyPath);
      await replaceable(filePath);
    }
    const keyTemp = await writeTemp(keyPath, pem);
    let fileTemp: string;
    try {
      fileTemp = await writeTemp(filePath, jsonFileText(identity));
    } catch (error) {
      await removeQuietly(keyTemp);
      throw error;
    }
    try {
      await commitTemp(keyTemp, keyPath, force);
    } catch (error) {
      await removeQuietly(fileTemp);
      throw error;
    }
    try {
      await commitTemp(fileTemp, filePath, force);
    } catch (error) {
      if (!force) await removeQuietly(keyPath);
      throw error;
    }
    await syncDir(keyPath);
    await syncDir(filePath);
  }

  /**
   * Key rotation in two steps, so a crash never loses the key the issuer
   * knows: the new key is first written beside the old (`<role>.key.next`),
   * and moved over it only once the issuer has accepted it. A staged key is
   * never overwritten: the issuer may already hold it.
   */
  async stageKey(role: Role, pem: string): Promise<void> {
    await this.#write(`keys/${role}.key.next`, pem, false);
  }

  /** The key staged by a rotation not yet finished, if any. */
  async readStagedKey(role: Role): Promise<KeyPair | undefined> {
    return await this.#readKeyFile(`keys/${role}.key.next`);
  }

  async promoteStagedKey(role: Role): Promise<void> {
    try {
      await Deno.rename(this.stagedKeyPath(role), this.keyPath(role));
    } catch (error) {
      throw cannotWrite(this.keyPath(role), error);
    }
    await syncDir(this.keyPath(role));
  }

  async discardStagedKey(role: Role): Promise<void> {
    await removeQuietly(this.stagedKeyPath(role));
  }

  async readKey(role: Role): Promise<KeyPair> {
    const path = this.keyPath(role);
    const key = await this.#readKeyFile(`keys/${role}.key`);
    if (!key) {
      fail(
        "ERR_HOME_MISSING",
        `no ${role} key at ${path}; run \`auth4agent init${
          role === "operator" ? " --operator" : ""
        }\` first`,
      );
    }
    return key;
  }

  /** A key file: the user's own, readable by no one else, as ssh demands. */
  async #readKeyFile(file: string): Promise<KeyPair | undefined> {
    if (!await this.#foldersOf(file)) return undefined;
    const path = this.path(file);
    const read = await readSmallFile(path, SMALL_FILE_BYTES);
    if (!read) return undefined;
    requireOwnerOnly(path, read.info.mode, "ERR_KEY_PERMISSIONS");
    await requireOwn(path, read.info);
    return await importPrivateKeyPem(read.text, path);
  }

  /**
   * A file only this user could have written (regular, the user's own, no
   * access for group or others), or undefined: for what is trusted when
   * present but may as well be absent, as the JWKS cache.
   */
  async readPrivateFile(
    file: string,
    max: number,
  ): Promise<string | undefined> {
    if (!await this.#foldersOf(file)) return undefined;
    const path = this.path(file);
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw cannotRead(path, error);
    }
    const uid = await currentUid();
    const trusted = info.isFile && info.size <= max &&
      (info.mode === null || (info.mode & 0o077) === 0) &&
      (uid === null || info.uid === uid);
    return trusted ? (await readSmallFile(path, max))?.text : undefined;
  }

  async writeJson(name: string, value: unknown, force: boolean): Promise<void> {
    await this.#write(name, jsonFileText(value), force);
  }

  async readJson(name: string): Promise<Record<string, unknown> | undefined> {
    if (!await this.#foldersOf(name)) return undefined;
    const read = await readSmallFile(this.path(name), SMALL_FILE_BYTES);
    if (!read) return undefined;
    return parseJsonObject(read.text, this.path(name));
  }

  async readOperator(): Promise<OperatorFile | undefined> {
    const value = await this.readJson("operator.json");
    if (!value) return undefined;
    if (typeof value.domain !== "string" || typeof value.server !== "string") {
      fail(
        "ERR_HOME_INVALID",
        `${this.path("operator.json")} lacks domain or server`,
      );
    }
    return value as unknown as OperatorFile;
  }

  async readAgent(): Promise<AgentFile | undefined> {
    const value = await this.readJson("agent.json");
    if (!value) return undefined;
    if (
      typeof value.did !== "string" || typeof value.domain !== "string" ||
      typeof value.server !== "string"
    ) {
      fail(
        "ERR_HOME_INVALID",
        `${this.path("agent.json")} lacks did, domain or server`,
      );
    }
    return value as unknown as AgentFile;
  }

  async requireOperator(): Promise<OperatorFile> {
    const operator = await this.readOperator();
    if (!operator) {
      fail(
        "ERR_HOME_MISSING",
        `no operator in ${this.dir}; run \`auth4agent init --operator --domain DOMAIN --server URL\``,
      );
    }
    return operator;
  }

  async requireRegisteredOperator(): Promise<
    OperatorFile & { operator_id: string }
  > {
    const operator = await this.requireOperator();
    if (!operator.operator_id) {
      fail(
        "ERR_HOME_MISSING",
        "the operator is not registered yet; run `auth4agent register operator`",
      );
    }
    return operator as OperatorFile & { operator_id: string };
  }

  async requireAgent(): Promise<AgentFile> {
    const agent = await this.readAgent();
    if (!agent) {
      fail(
        "ERR_HOME_MISSING",
        `no agent in ${this.dir}; run \`auth4agent init --domain DOMAIN --server URL\``,
      );
    }
    return agent;
  }
}

function jsonFileText(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

export function parseJsonObject(
  text: string,
  path: string,
): Record<string, unknown> {
  try {
    const value = JSON.parse(text);
    if (
      typeof value === "object" && value !== null && !Array.isArray(value)
    ) return value;
  } catch { /* reported below */ }
  throw new Auth4AgentError("ERR_HOME_INVALID", `${path} is not a JSON object`);
}

/** With --force, what is there is replaced: a file or a link, never a folder. */
async function replaceable(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw cannotRead(path, error);
  }
  if (info.isDirectory) {
    fail("ERR_HOME_INVALID", `${path} is a folder, not a file`);
  }
}
