/**
 * The local home folder (`--home`, `AUTH4AGENT_HOME`, default
 * `~/.auth4agent`): identity files and private keys. Keys are PKCS#8 PEM,
 * mode 0600 in a 0700 folder; a key readable by group or others is refused,
 * as ssh does. Files are written atomically and never overwritten without
 * `force`.
 */
import { Auth4AgentError, fail } from "../core/errors.ts";
import { requireOwnerOnly } from "../core/file_mode.ts";
import { importPrivateKeyPem, type KeyPair } from "../core/keys.ts";

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

  async #ensureDirs(): Promise<void> {
    for (const dir of [this.dir, this.path("keys")]) {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      await Deno.chmod(dir, 0o700);
    }
  }

  async exists(file: string): Promise<boolean> {
    try {
      await Deno.lstat(this.path(file));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /** Writes via a temporary file and rename, so a crash leaves the old file or the new one. */
  async #writeAtomic(
    path: string,
    data: string,
    force: boolean,
  ): Promise<void> {
    await this.#ensureDirs();
    if (!force) {
      try {
        await Deno.lstat(path);
        fail("ERR_HOME_EXISTS", `${path} exists; pass --force to replace it`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    const temp = `${path}.tmp-${crypto.randomUUID()}`;
    const file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      await file.write(new TextEncoder().encode(data));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(temp, path);
    await syncDir(path);
  }

  async writeKey(role: Role, pem: string, force: boolean): Promise<void> {
    await this.#writeAtomic(this.keyPath(role), pem, force);
  }

  /**
   * Key rotation in two steps, so a crash never loses the key the issuer
   * knows: the new key is first written beside the old (`<role>.key.next`),
   * and moved over it only once the issuer has accepted it. A staged key is
   * never overwritten: the issuer may already hold it.
   */
  async stageKey(role: Role, pem: string): Promise<void> {
    await this.#writeAtomic(this.stagedKeyPath(role), pem, false);
  }

  /** The key staged by a rotation not yet finished, if any. */
  async readStagedKey(role: Role): Promise<KeyPair | undefined> {
    return await this.#readKeyFile(this.stagedKeyPath(role));
  }

  async promoteStagedKey(role: Role): Promise<void> {
    await Deno.rename(this.stagedKeyPath(role), this.keyPath(role));
    await syncDir(this.keyPath(role));
  }

  async discardStagedKey(role: Role): Promise<void> {
    await Deno.remove(this.stagedKeyPath(role)).catch(() => {});
  }

  /**
   * Runs `work` holding an exclusive lock on `<role>.key.lock`, so that two
   * rotations from this home never act on one staged key at once. The lock
   * goes with the process, so a crash leaves nothing to clean up.
   */
  async withKeyLock<T>(role: Role, work: () => Promise<T>): Promise<T> {
    await this.#ensureDirs();
    const file = await Deno.open(this.keyPath(role) + ".lock", {
      write: true,
      create: true,
      mode: 0o600,
    });
    try {
      await file.lock(true);
      return await work();
    } finally {
      file.close();
    }
  }

  async readKey(role: Role): Promise<KeyPair> {
    const path = this.keyPath(role);
    const key = await this.#readKeyFile(path);
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

  async #readKeyFile(path: string): Promise<KeyPair | undefined> {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    requireOwnerOnly(path, info.mode, "ERR_KEY_PERMISSIONS");
    return await importPrivateKeyPem(await Deno.readTextFile(path));
  }

  async writeJson(name: string, value: unknown, force: boolean): Promise<void> {
    await this.#writeAtomic(
      this.path(name),
      JSON.stringify(value, null, 2) + "\n",
      force,
    );
  }

  async readJson(name: string): Promise<Record<string, unknown> | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path(name));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    try {
      const value = JSON.parse(text);
      if (
        typeof value === "object" && value !== null && !Array.isArray(value)
      ) return value;
    } catch { /* reported below */ }
    throw new Auth4AgentError(
      "ERR_HOME_INVALID",
      `${this.path(name)} is not a JSON object`,
    );
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

/** Makes a rename in the folder of `path` durable: a crash after it must not bring the old file back. */
async function syncDir(path: string): Promise<void> {
  const dir = await Deno.open(path.slice(0, path.lastIndexOf("/")));
  try {
    await dir.sync();
  } finally {
    dir.close();
  }
}
