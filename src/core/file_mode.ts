/** Secret files must be readable by their owner only, as ssh demands of its keys. */
import { type ErrorCode, fail } from "./errors.ts";

/** Throws `code` when `mode` grants any access to group or others. */
export function requireOwnerOnly(
  path: string,
  mode: number | null,
  code: ErrorCode,
): void {
  if (mode !== null && (mode & 0o077) !== 0) {
    fail(
      code,
      `${path} is accessible by others (mode ${
        (mode & 0o777).toString(8)
      }); run chmod 600 ${path}`,
    );
  }
}
