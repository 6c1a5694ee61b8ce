/**
 * `deno task compile`: builds the single executable `dist/auth4agent` with
 * `deno compile` and the same explicit permissions as `deno task auth4agent`.
 *
 * `deno compile` embeds the program into `denort`, Deno's runtime base, which
 * it downloads for the running Deno version. On machines that cannot reach
 * the download host, set DENORT_BIN to a denort binary of the same version
 * (see README.md, "Compiling"); Deno itself honours that variable.
 */
const PERMISSIONS = [
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  // Deno.uid(): the home folder's files must be this user's (src/home/files.ts).
  "--allow-sys=uid",
];
/**
 * A 2 MB young generation, and an old generation that grows by half its live
 * size (V8's default lets it double and more under load): the server's RSS
 * after load on 100k agents / 1M tokens ≈ 111 MB instead of ≈ 154, at no
 * measured throughput cost (bench/README.md).
 */
const V8_FLAGS = "--v8-flags=--max-semi-space-size=2,--heap-growing-percent=50";
const output = Deno.args[0] ?? "dist/auth4agent";

const denort = Deno.env.get("DENORT_BIN");
if (denort) {
  try {
    const info = await Deno.stat(denort);
    if (!info.isFile) throw new Error("not a file");
  } catch (error) {
    console.error(
      `DENORT_BIN=${denort} is not a readable file (${
        (error as Error).message
      })`,
    );
    Deno.exit(1);
  }
}

const result = await new Deno.Command(Deno.execPath(), {
  args: [
    "compile",
    ...PERMISSIONS,
    V8_FLAGS,
    // Workers are loaded by URL at run time: name them so they are embedded.
    "--include",
    "src/store/sqlite_checkpointer.ts",
    "--output",
    output,
    "main.ts",
  ],
  stdout: "inherit",
  stderr: "inherit",
}).output();

if (!result.success) {
  if (!denort) {
    console.error(
      `\ndeno compile could not get its runtime base (denort ${Deno.version.deno}). ` +
        "On a machine without access to Deno's download host, fetch " +
        `denort-<target>.zip for Deno ${Deno.version.deno} elsewhere, unzip it, and run:\n` +
        "  DENORT_BIN=/path/to/denort deno task compile",
    );
  }
  Deno.exit(result.code || 1);
}
console.error(`built ${output}`);
