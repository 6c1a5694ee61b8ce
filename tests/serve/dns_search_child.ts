/**
 * Run by dns_search_test.ts inside `unshare -rmn`, with /etc/resolv.conf
 * bound to one naming 127.0.0.1 and `search corp.test`, `options ndots:5`:
 * serves a zone on 127.0.0.1:53, looks the challenge record up through the
 * system resolver and prints what it got and what the server was asked.
 */
import { systemTxtResolver } from "../../src/serve/dns.ts";
import {
  DNS_RCODE,
  DNS_TYPE,
  rawReply,
  startRawDnsServer,
  txtRdata,
} from "../helpers/dns_server.ts";

const [name, zoneJson] = Deno.args;
const zone: Record<string, string> = JSON.parse(zoneJson!);
const server = await startRawDnsServer((q) => {
  const value = zone[q.name.toLowerCase()];
  return value !== undefined && q.type === DNS_TYPE.TXT
    ? rawReply(q, {
      answers: [{ name: q.name, type: DNS_TYPE.TXT, rdata: txtRdata([value]) }],
    })
    : rawReply(q, { rcode: DNS_RCODE.NXDOMAIN });
}, 53);
let result: { answers?: string[][]; error?: string };
try {
  result = { answers: await systemTxtResolver()(name!) };
} catch (error) {
  result = { error: String(error) };
}
console.log(
  JSON.stringify({ ...result, queries: server.queries.map((q) => q.name) }),
);
await server.close();
