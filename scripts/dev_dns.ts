/**
 * `deno task dev-dns [--port 5300] [--records dns-records.txt]`: a DNS server on
 * 127.0.0.1 for trying auth4agent without a domain of your own. It answers
 * the TXT records in the records file — the objects `auth4agent
 * verify-operator instructions --json` prints ({name, value}), appended one
 * after another — reread twice a second, and nothing else (NXDOMAIN). Start
 * the issuer with `serve --dns-server 127.0.0.1:PORT`. For development only:
 * an issuer that asks it trusts whatever the file says.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startDnsServer } from "../tests/helpers/dns_server.ts";

// `deno task` runs in the repository folder: the records file is the user's,
// relative to the folder the task was typed in (as main.ts does).
const typedIn = Deno.env.get("AUTH4AGENT_TASK_CWD");
if (typedIn) Deno.chdir(typedIn);

const { values } = parseArgs({
  args: Deno.args,
  options: {
    // Not 5353: mDNS (avahi, mDNSResponder) often holds it.
    port: { type: "string", default: "5300" },
    records: { type: "string", default: "dns-records.txt" },
  },
});
const port = Number(values.port);
// 0: a free port (the address is printed).
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port must be a port number, not ${values.port}`);
  Deno.exit(2);
}
const file = values.records!;
const shown = resolve(file);

/** The file's TXT records by name: every flat JSON object with a name and a value. */
async function readRecords(): Promise<Map<string, string[][]>> {
  const records = new Map<string, string[][]>();
  let text = "";
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  for (const [object] of text.matchAll(/\{[^{}]*\}/g)) {
    let record: { name?: unknown; value?: unknown };
    try {
      record = JSON.parse(object);
    } catch {
      continue;
    }
    if (typeof record.name !== "string" || typeof record.value !== "string") {
      continue;
    }
    const name = record.name.toLowerCase().replace(/\.$/, "");
    records.set(name, [...records.get(name) ?? [], [record.value]]);
  }
  return records;
}

let server: Awaited<ReturnType<typeof startDnsServer>>;
try {
  server = await startDnsServer({ port });
} catch (error) {
  console.error(
    `cannot listen on 127.0.0.1:${port} (${
      (error as Error).message
    }): pick another --port, or --port 0 for any free one`,
  );
  Deno.exit(1);
}
let served = new Map<string, string[][]>();
async function reload(): Promise<void> {
  const next = await readRecords();
  for (const name of served.keys()) {
    if (!next.has(name)) server.deleteTxt(name);
  }
  for (const [name, txt] of next) server.setTxt(name, txt);
  if (JSON.stringify([...next]) !== JSON.stringify([...served])) {
    console.log(`serving ${next.size} name(s) from ${shown}`);
  }
  served = next;
}
await reload();
const timer = setInterval(
  () => reload().catch((error) => console.error(String(error))),
  500,
);
console.log(
  `DNS on ${server.address} (UDP and TCP), answering the records appended to ${shown}: serve --dns-server ${server.address}`,
);
const stop = async () => {
  clearInterval(timer);
  await server.close();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
