/**
 * Loading the key-encryption key: from `--key-encryption-key-file` /
 * `AUTH4AGENT_KEK_FILE` (a file readable by its owner only, as for keys), or
 * from `AUTH4AGENT_KEK` itself. Without either, signing keys rest unencrypted
 * in the database (protect the file), and the log says so at start.
 */
import { fail } from "../core/errors.ts";
import { requireOwnerOnly } from "../core/file_mode.ts";
import { importKek } from "../core/key_encryption.ts";

export async function loadKek(
  file: string | undefined,
  env: (name: string) => string | undefined,
): Promise<CryptoKey | undefined> {
  if (file) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(file);
    } catch {
      fail("ERR_CONFIG", `cannot read the key-encryption key file ${file}`);
    }
    requireOwnerOnly(file, info.mode, "ERR_CONFIG");
    return await importKek(await Deno.readTextFile(file));
  }
  const inline = env("AUTH4AGENT_KEK");
  return inline ? await importKek(inline) : undefined;
}
