/**
 * PostgreSQL for tests. `AUTH4AGENT_TEST_DATABASE_URL` names a database when
 * set (CI may provide one); otherwise a throwaway cluster is made from the
 * local PostgreSQL binaries: initdb into a temp dir, a server on a free port
 * of 127.0.0.1 with its unix socket in that dir, one database. It is stopped
 * and removed when the test module unloads (also after failures), and the
 * server stops by itself within a minute if its data dir disappears.
 *
 * Each test gets a fresh schema (`freshSchema`), so runs never interfere.
 * Without binaries the PostgreSQL tests are skipped with a message — except
 * under `CI=true`, where a missing PostgreSQL fails the run.
 */
import postgres from "postgres";

export const DATABASE_URL_ENV = "AUTH4AGENT_TEST_DATABASE_URL";

export type PostgresSource =
  | { kind: "url"; url: string }
  | { kind: "binaries"; bindir: string }
  | { kind: "missing"; reason: string };

const isExecutable = (path: string) => {
  try {
    const info = Deno.statSync(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
};

/** Where the binaries of the newest PostgreSQL on the machine are, if any. */
function findBindir(): string | undefined {
  const candidates: string[] = [];
  for (const root of ["/usr/lib/postgresql", "/usr/local/lib/postgresql"]) {
    try {
      for (const entry of Deno.readDirSync(root)) {
        candidates.push(`${root}/${entry.name}/bin`);
      }
    } catch { /* not there */ }
  }
  candidates.sort((a, b) =>
    Number(b.split("/").at(-2)) - Number(a.split("/").at(-2))
  );
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir) candidates.push(dir);
  }
  return candidates.find((dir) =>
    isExecutable(`${dir}/initdb`) && isExecutable(`${dir}/pg_ctl`)
  );
}

/** Decides, synchronously (tests are registered at load), where PostgreSQL comes from. */
export function findPostgres(): PostgresSource {
  const url = Deno.env.get(DATABASE_URL_ENV);
  if (url) return { kind: "url", url };
  const bindir = findBindir();
  if (bindir) return { kind: "binaries", bindir };
  return {
    kind: "missing",
    reason:
      `no PostgreSQL: ${DATABASE_URL_ENV} is not set and initdb/pg_ctl are not in /usr/lib/postgresql/*/bin or PATH (apt-get install postgresql)`,
  };
}

export const inCi = () => Deno.env.get("CI") === "true";

export interface Schema {
  /** The database URL with `search_path` set to the schema. */
  url: string;
  name: string;
  /** Sets the schema's recorded schema version (raw SQL). */
  setSchemaVersion(version: number): Promise<void>;
  drop(): Promise<void>;
}

export interface TestPostgres {
  /** The test database (no search_path). */
  url: string;
  freshSchema(): Promise<Schema>;
}

/** `id ARGS` as a number (Deno.uid() would need --allow-sys, which tests do not get). */
function id(...args: string[]): number {
  const output = new Deno.Command("id", { args, stdin: "null" }).outputSync();
  if (!output.success) {
    throw new Error(
      `id ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return Number(new TextDecoder().decode(output.stdout).trim());
}

let root: boolean | undefined;
const isRoot = () => (root ??= id("-u") === 0);

/** Runs a PostgreSQL binary, as the `postgres` user when we are root (initdb refuses root). */
function command(bindir: string, program: string, args: string[]) {
  const path = `${bindir}/${program}`;
  return isRoot()
    ? new Deno.Command("runuser", {
      args: ["-u", "postgres", "--", path, ...args],
      stdin: "null",
    })
    : new Deno.Command(path, { args, stdin: "null" });
}

async function run(bindir: string, program: string, args: string[]) {
  const output = await command(bindir, program, args).output();
  if (!output.success) {
    const text = new TextDecoder().decode(output.stderr) ||
      new TextDecoder().decode(output.stdout);
    throw new Error(`${program} ${args.join(" ")} failed:\n${text}`);
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function startCluster(bindir: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "a4a-pg-" });
  const data = `${dir}/data`;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    // Synchronous: this runs in the module's unload event.
    try {
      Deno.statSync(`${data}/postmaster.pid`);
      command(bindir, "pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
        .outputSync();
    } catch { /* never started */ }
    Deno.removeSync(dir, { recursive: true });
  };
  globalThis.addEventListener("unload", stop);
  try {
    if (isRoot()) {
      await Deno.chown(dir, id("-u", "postgres"), id("-g", "postgres"));
    }
    await run(bindir, "initdb", [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--encoding=UTF8",
      "--no-sync",
    ]);
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = freePort();
      try {
        await run(bindir, "pg_ctl", [
          "-D",
          data,
          "-l",
          `${dir}/server.log`,
          "-w",
          "-t",
          "30",
          "-o",
          // Throwaway: no fsync; the socket in our dir, not /var/run.
          `-h 127.0.0.1 -p ${port} -k ${dir} -F -c max_connections=200`,
          "start",
        ]);
      } catch (error) {
        lastError = error; // most likely the port was taken meanwhile
        continue;
      }
      const admin = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, {
        max: 1,
        onnotice: () => {},
      });
      try {
        await admin`CREATE DATABASE auth4agent_test`;
      } finally {
        await admin.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/auth4agent_test`;
    }
    throw lastError;
  } catch (error) {
    stop();
    throw error;
  }
}

function withSearchPath(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set("search_path", schema);
  return parsed.toString();
}

let started: Promise<TestPostgres> | undefined;

/**
 * The test PostgreSQL: the URL from the environment or a throwaway cluster,
 * started on first use and shared by the module's tests.
 */
export function testPostgres(source: PostgresSource): Promise<TestPostgres> {
  if (source.kind === "missing") {
    return Promise.reject(new Error(source.reason));
  }
  started ??= (async () => {
    const url = source.kind === "url"
      ? source.url
      : await startCluster(source.bindir);
    const admin = async <T>(work: (sql: postgres.Sql) => Promise<T>) => {
      const sql = postgres(url, { max: 1, onnotice: () => {} });
      try {
        return await work(sql);
      } finally {
        await sql.end();
      }
    };
    return {
      url,
      async freshSchema(): Promise<Schema> {
        const name = `a4a_test_${crypto.randomUUID().replaceAll("-", "")}`;
        await admin((sql) => sql`CREATE SCHEMA ${sql(name)}`);
        return {
          url: withSearchPath(url, name),
          name,
          setSchemaVersion: (version) =>
            admin(async (sql) => {
              await sql`UPDATE ${
                sql(name)
              }.schema_version SET version = ${version}`;
            }),
          drop: () =>
            admin(async (sql) => {
              await sql`DROP SCHEMA ${sql(name)} CASCADE`;
            }),
        };
      },
    };
  })();
  return started;
}
