/**
 * What a command's I/O goes through: output streams, environment, clock,
 * HTTP, the home folder and the `--json` flag. main.ts builds the real one;
 * tests build one with string buffers and run commands in-process.
 */
import { IssuerClient } from "../client/issuer_client.ts";
import { fail } from "../core/errors.ts";
import { defaultHome, Home } from "../home/home.ts";

export interface CommandIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: (name: string) => string | undefined;
  now: () => Date;
  fetch: typeof fetch;
}

export interface GlobalOptions {
  home?: string;
  json?: boolean;
  debug?: boolean;
}

export class CommandContext {
  readonly json: boolean;
  readonly home: Home;

  constructor(readonly io: CommandIO, options: GlobalOptions) {
    this.json = options.json ?? false;
    this.home = new Home(options.home ?? defaultHome(io.env));
  }

  client(server: string): IssuerClient {
    return new IssuerClient(server, { fetch: this.io.fetch, now: this.io.now });
  }

  /** Prints data: JSON under --json, otherwise the human lines. */
  print(data: unknown, human: string | string[]): void {
    if (this.json) {
      this.io.stdout(JSON.stringify(data, null, 2) + "\n");
    } else {
      const lines = Array.isArray(human) ? human : [human];
      this.io.stdout(lines.join("\n") + "\n");
    }
  }

  /** A diagnostic for humans (stderr), silent under --json. */
  note(text: string): void {
    if (!this.json) this.io.stderr(text + "\n");
  }
}

export function parseServerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(
      "ERR_USAGE",
      `--server must be a URL such as http://localhost:8080, not ${
        JSON.stringify(value)
      }`,
    );
  }
  if (
    !/^https?:$/.test(url.protocol) || url.search || url.hash || url.username ||
    url.password
  ) {
    fail(
      "ERR_USAGE",
      "--server must be an http(s) URL without query, fragment or credentials",
    );
  }
  return url.href.replace(/\/+$/, "");
}
