/**
 * Loading the key-encryption key: from `--key-encryption-key-file` /
 * `AUTH4AGENT_KEK_FILE` (a regular file readable by its owner only, as for
 * keys), or from `AUTH4AGENT_KEK` itself. Without either, signing keys rest
 * unencrypted in the database (protect the file), and the log says so at
 * start. An empty value is refused rather than read as "none": a typo must
 * not turn encryption off.
 */
import { fail } from "../core/errors.ts";
import { requireOwnerOnly } from "../core/file_mode.ts";
import { importKek } from "../core/key_encryption.ts";
import { readSmallFile } from "../home/files.ts";

/** A KEK file holds 44 characters of base64 and a line break. */
const MAX_KEK_FILE_BYTES = 4096;

export async function loadKek(
  file: string | undefined,
  env: (name: string) => string | undefined,
): Promise<CryptoKey | undefined> {
  if (file !== undefined) return await importKek(await readKekFile(file));
  const inline = env("AUTH4AGENT_KEK");
  if (inline === "") {
    fail("ERR_CONFIG", "AUTH4AGENT_KEK is empty; unset it to run without one");
  }
  return inline === undefined ? undefined : await importKek(inline);
}

async function readKekFile(file: string): Promise<string> {
  if (file === "") {
    fail(
      "ERR_CONFIG",
      "--key-encryption-key-file (AUTH4AGENT_KEK_FILE) is empty; name the key file, or unset it to run without one",
    );
  }
  const read = await readSmallFile(file, MAX_KEK_FILE_BYTES, "ERR_CONFIG");
  if (!read) {
    fail("ERR_CONFIG", `the key-encryption key file ${file} does not exist`);
  }
  requireOwnerOnly(file, read.info.mode, "ERR_CONFIG");
  return read.text;
}
