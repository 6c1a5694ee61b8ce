/**
 * The CLI run in-process through main.ts, as the executable runs it, with
 * its output captured and its HTTP going to the `fetch` given.
 */
import { main } from "../../main.ts";

export interface CliRun {
  exit: number;
  stdout: string;
  stderr: string;
}

export async function runCli(
  args: string[],
  options: { fetch?: typeof fetch } = {},
): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const exit = await main(args, {
    stdout: (text) => void (stdout += text),
    stderr: (text) => void (stderr += text),
    env: () => undefined,
    now: () => new Date(),
    fetch: options.fetch ?? fetch,
  });
  return { exit, stdout, stderr };
}
