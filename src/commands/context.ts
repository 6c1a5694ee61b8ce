/**
 * What a command's I/O goes through: output streams, environment, clock,
 * HTTP, the home folder and the `--json` flag. main.ts builds the real one;
 * tests build one with string buffers and run commands in-process.
 *
 * Output is where a server's (or the audit log's) strings meet the terminal:
 * the human lines show their control and format characters as `\u001b`
 * text, so a value cannot move the cursor, erase or retitle, start a line of
 * its own, nor reorder what is shown (bidi overrides).
 */
import { IssuerClient } from "../client/issuer_client.ts";
import { fail } from "../core/errors.ts";
import { defaultHome, Home } from "../home/home.ts";

/** C0, DEL, C1 and format characters: what a terminal may act on instead of showing. */
const CONTROL = /[\p{Cc}\p{Cf}]/gu;
/** What JSON.stringify leaves raw of them: DEL and C1. */
const CONTROL_IN_JSON = /[\u007f-\u009f]/g;

function escapeControl(char: string): string {
  const code = char.codePointAt(0)!;
  return code > 0xffff
    ? `\\u{${code.toString(16)}}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with every control and format character, line breaks too, written as `\u001b`. */
export function visible(text: string): string {
  return text.replace(CONTROL, escapeControl);
}

/** JSON with DEL and C1 escaped as well: the same value, inert in a terminal. */
export function jsonText(data: unknown, indent?: number): string {
  return JSON.stringify(data, null, indent).replace(
    CONTROL_IN_JSON,
    escapeControl,
  );
}

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

  /** `--home DIR` as typed, to repeat in a "Next:" hint; "" without it. */
  readonly homeFlag: string;

  constructor(readonly io: CommandIO, options: GlobalOptions) {
    this.json = options.json ?? false;
    if (options.home === "") fail("ERR_USAGE", "--home must name a folder");
    this.home = new Home(options.home ?? defaultHome(io.env));
    this.homeFlag = options.home === undefined
      ? ""
      : ` --home ${shellWord(options.home)}`;
  }

  client(server: string): IssuerClient {
    return new IssuerClient(server, { fetch: this.io.fetch, now: this.io.now });
  }

  /**
   * Prints data: JSON under --json, otherwise the human lines, each shown
   * with its control characters escaped.
   */
  print(data: unknown, human: string | string[]): void {
    if (this.json) {
      this.io.stdout(jsonText(data, 2) + "\n");
    } else {
      const lines = Array.isArray(human) ? human : [human];
      this.io.stdout(lines.map(visible).join("\n") + "\n");
    }
  }

  /** A diagnostic for humans (stderr), silent under --json. */
  note(text: string): void {
    if (!this.json) this.io.stderr(visible(text) + "\n");
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

/** A word as a shell reads it back: quoted when it holds anything but plain path characters. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}
