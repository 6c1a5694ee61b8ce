/**
 * TXT lookups for domain verification: through the name servers of
 * /etc/resolv.conf, or the one named by `--dns-server HOST:PORT`.
 *
 * A small stub resolver of our own rather than Deno.resolveDns, which
 * (Deno 2.9) cannot do two things verification needs:
 *
 * - tell "no such record" from "the lookup failed": it reports SERVFAIL,
 *   REFUSED, FORMERR and NOTIMP as Deno.errors.NotFound with the very message
 *   of NXDOMAIN and NODATA, so a failing server read as ERR_DNS_RECORD_MISSING.
 *   Here the RCODE is read: NOERROR and NXDOMAIN answer, anything else is
 *   ERR_DNS_LOOKUP_FAILED (after the other servers were tried);
 * - ask exactly the name given: without --dns-server it applied resolv.conf's
 *   `search` list and `ndots`, so `<name>.<search domain>` could be asked
 *   (first, with ndots:5) and its TXT taken as proof for the domain. Here the
 *   name is always absolute; only `nameserver` lines of resolv.conf are read.
 *
 * What a stub resolver must check is checked: the reply comes from the
 * server's address and port, carries the query's random ID and its question
 * (name, TXT, IN); only records owned by the name (or by its CNAME chain),
 * of type TXT and class IN, count; a truncated UDP reply is asked again over
 * TCP; each exchange and the whole lookup have a deadline. The answer is data
 * from outside, bounded by the 64 KiB of a DNS message.
 */
import dgram from "node:dgram";
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import { Auth4AgentError } from "../core/errors.ts";
import { withDeadline } from "./deadline.ts";

/** Resolves the TXT records of a name: each record as its character-strings; [] when none. */
export type TxtResolver = (name: string) => Promise<string[][]>;

export interface NameServer {
  /** An IP address, or a host name looked up when first needed. */
  host: string;
  port: number;
}

/** A name server by IP address. */
interface ServerAddress {
  ipAddr: string;
  port: number;
}

const TYPE_CNAME = 5;
const TYPE_TXT = 16;
const CLASS_IN = 1;
const RCODE_NOERROR = 0;
const RCODE_NXDOMAIN = 3;
const RCODE_NAMES: Record<number, string> = {
  1: "FORMERR",
  2: "SERVFAIL",
  4: "NOTIMP",
  5: "REFUSED",
};
const FLAG_TC = 0x0200;
/** One query and its reply, UDP plus a TCP retry if truncated. */
const EXCHANGE_TIMEOUT_MS = 2000;
/** The whole lookup: every server tried, twice, and CNAMEs followed. */
const LOOKUP_TIMEOUT_MS = 5000;
const MAX_CNAME_HOPS = 8;
/**
 * More answer records than a verification can use (32 TXT records are the
 * most compared, dns_challenge.ts, plus a CNAME chain): a bigger reply is
 * refused before its names are expanded, which would cost the event loop
 * tens of milliseconds for a 64 KiB reply of compressed names.
 */
const MAX_ANSWERS = 64;
/** As the C library reads it (MAXNS). */
const MAX_NAME_SERVERS = 3;
const RESOLV_CONF = "/etc/resolv.conf";

/** A host name by RFC 1123 labels; a numeric last label is a bad IP, not a name. */
function isHostName(host: string): boolean {
  const label = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  const labels = host.split(".");
  return host.length <= 253 && labels.every((l) => label.test(l)) &&
    !/^[0-9]+$/.test(labels.at(-1)!);
}

/** `HOST:PORT`: an IPv4 address, `[IPv6]` or a host name, and a port. */
export function parseNameServer(value: string): NameServer {
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]+)):([0-9]{1,5})$/.exec(value);
  const [, ipv6, other] = match ?? [];
  const host = ipv6 ?? other ?? "";
  const port = match ? Number(match[3]) : 0;
  const hostValid = ipv6 !== undefined
    ? isIP(ipv6) === 6
    : isIP(host) === 4 || isHostName(host);
  if (!hostValid || port < 1 || port > 65535) {
    throw new Auth4AgentError(
      "ERR_CONFIG",
      `--dns-server must be HOST:PORT (e.g. 127.0.0.1:53, [::1]:53 or ns1.example.com:53), not ${
        JSON.stringify(value)
      }`,
    );
  }
  return { host, port };
}

function lookupFailed(message: string, cause?: unknown): Auth4AgentError {
  return new Auth4AgentError(
    "ERR_DNS_LOOKUP_FAILED",
    message,
    cause === undefined ? undefined : { cause },
  );
}

/** A name server named by host name goes through the system's lookup (hosts file included), IPv4 first. */
async function nameServerAddress(server: NameServer): Promise<ServerAddress> {
  if (isIP(server.host)) return { ipAddr: server.host, port: server.port };
  let addresses: { address: string; family: number }[] = [];
  let cause: unknown;
  try {
    addresses = await lookup(server.host, { all: true });
  } catch (error) {
    cause = error;
  }
  const chosen = addresses.find((a) => a.family === 4) ?? addresses[0];
  if (!chosen) {
    throw lookupFailed(
      `the DNS server ${server.host} (--dns-server) has no address`,
      cause,
    );
  }
  return { ipAddr: chosen.address, port: server.port };
}

/** The `nameserver` addresses of a resolv.conf; `search`, `domain` and `options` do not apply. */
export function parseResolvConf(text: string): ServerAddress[] {
  const servers: ServerAddress[] = [];
  for (const line of text.split("\n")) {
    const [keyword, address] = line.replace(/[#;].*/, "").trim().split(/\s+/);
    if (keyword === "nameserver" && address && isIP(address)) {
      servers.push({ ipAddr: address, port: 53 });
    }
  }
  return servers.slice(0, MAX_NAME_SERVERS);
}

/** Read at every lookup, as the C library does when the file changed. */
async function systemNameServers(): Promise<ServerAddress[]> {
  let text = "";
  try {
    text = await Deno.readTextFile(RESOLV_CONF);
  } catch {
    // no file: no name server, said below
  }
  const servers = parseResolvConf(text);
  if (servers.length === 0) {
    throw lookupFailed(
      `no name server in ${RESOLV_CONF}: give serve --dns-server HOST:PORT`,
    );
  }
  return servers;
}

// --- DNS messages (RFC 1035 §4) ---

/** ASCII-only lowercase: DNS compares names case-insensitively in ASCII only. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** An absolute name (one trailing dot optional) in wire form. */
function encodeName(name: string): number[] {
  const labels = name.replace(/\.$/, "").split(".");
  const bytes: number[] = [];
  for (const label of labels) {
    if (label.length < 1 || label.length > 63 || /[^\x21-\x7e]/.test(label)) {
      throw lookupFailed(`${JSON.stringify(name)} is not a DNS name`);
    }
    bytes.push(label.length, ...[...label].map((c) => c.charCodeAt(0)));
  }
  bytes.push(0);
  if (bytes.length > 255) {
    throw lookupFailed(`${name} is longer than a DNS name can be`);
  }
  return bytes;
}

function encodeQuery(id: number, name: string): Uint8Array {
  // Header: ID, flags RD (recursion desired), one question.
  const header = [id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
  const question = [0, TYPE_TXT, 0, CLASS_IN];
  return new Uint8Array([...header, ...encodeName(name), ...question]);
}

class MalformedReply extends Error {}

/** Reads a (possibly compressed) name at offset: its lowercase text form and the offset after it. */
function readName(msg: Uint8Array, start: number): [string, number] {
  const labels: string[] = [];
  let offset = start;
  let end = -1;
  let wireLength = 1;
  for (let jumps = 0;;) {
    const length = msg[offset];
    if (length === undefined) throw new MalformedReply("name out of bounds");
    if (length === 0) break;
    if ((length & 0xc0) === 0xc0) {
      if (offset + 1 >= msg.length || ++jumps > 127) {
        throw new MalformedReply("bad compression pointer");
      }
      if (end < 0) end = offset + 2;
      offset = ((length & 0x3f) << 8) | msg[offset + 1]!;
      continue;
    }
    if (length > 63) throw new MalformedReply("bad label length");
    wireLength += length + 1;
    const label = msg.subarray(offset + 1, offset + 1 + length);
    // A "." inside a label would make two names spell alike.
    if (wireLength > 255 || label.length < length || label.includes(0x2e)) {
      throw new MalformedReply("bad name");
    }
    labels.push(asciiLower(String.fromCharCode(...label)));
    offset += 1 + length;
  }
  return [labels.join("."), end < 0 ? offset + 1 : end];
}

interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  /** A TXT record's character-strings. */
  txt?: string[];
  /** A CNAME record's target. */
  target?: string;
}

interface Reply {
  rcode: number;
  answers: ResourceRecord[];
}

function u16(msg: Uint8Array, offset: number): number {
  if (offset + 2 > msg.length) throw new MalformedReply("truncated message");
  return (msg[offset]! << 8) | msg[offset + 1]!;
}

/** The header and question of a reply to our query, or undefined when it is not one. */
function replyHeader(msg: Uint8Array, id: number, name: string) {
  try {
    const flags = u16(msg, 2);
    const isResponse = (flags & 0x8000) !== 0 && (flags & 0x7800) === 0;
    if (u16(msg, 0) !== id || !isResponse || u16(msg, 4) !== 1) {
      return undefined;
    }
    const [qname, next] = readName(msg, 12);
    if (
      qname !== asciiLower(name.replace(/\.$/, "")) ||
      u16(msg, next) !== TYPE_TXT || u16(msg, next + 2) !== CLASS_IN
    ) return undefined;
    return { flags, answersAt: next + 4 };
  } catch (error) {
    if (error instanceof MalformedReply) return undefined;
    throw error;
  }
}

/**
 * The answer section, each TXT and CNAME record's data decoded here, so that
 * a malformed one makes the whole reply malformed (and the next server is
 * asked) rather than failing the lookup later.
 */
function readAnswers(msg: Uint8Array, start: number): ResourceRecord[] {
  const count = u16(msg, 6);
  if (count > MAX_ANSWERS) {
    throw new MalformedReply(`more than ${MAX_ANSWERS} answer records`);
  }
  const answers: ResourceRecord[] = [];
  let offset = start;
  for (let i = count; i > 0; i--) {
    const [name, next] = readName(msg, offset);
    const type = u16(msg, next);
    const length = u16(msg, next + 8);
    const rdataOffset = next + 10;
    if (rdataOffset + length > msg.length) {
      throw new MalformedReply("record out of bounds");
    }
    const rdata = msg.subarray(rdataOffset, rdataOffset + length);
    answers.push({
      name,
      type,
      class: u16(msg, next + 2),
      txt: type === TYPE_TXT ? readTxt(rdata) : undefined,
      target: type === TYPE_CNAME ? readName(msg, rdataOffset)[0] : undefined,
    });
    offset = rdataOffset + length;
  }
  return answers;
}

/** TXT RDATA: one or more length-prefixed character-strings (RFC 1035 §3.3.14). */
function readTxt(rdata: Uint8Array): string[] {
  const strings: string[] = [];
  const decoder = new TextDecoder();
  for (let offset = 0; offset < rdata.length;) {
    const length = rdata[offset]!;
    if (offset + 1 + length > rdata.length) {
      throw new MalformedReply("TXT character-string out of bounds");
    }
    strings.push(
      decoder.decode(rdata.subarray(offset + 1, offset + 1 + length)),
    );
    offset += 1 + length;
  }
  return strings;
}

function parseReply(msg: Uint8Array, answersAt: number, flags: number): Reply {
  return { rcode: flags & 0x000f, answers: readAnswers(msg, answersAt) };
}

// --- Transports ---

/**
 * IPv6 addresses compare in canonical form ("0::1" is "::1") and without a
 * zone: a reply to `fe80::1%eth0` comes from `fe80::1` (the scoped socket
 * hears that link only).
 */
export function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const bare = (ip: string) => ip.replace(/%.*$/, "");
  if (isIP(bare(a)) !== 6 || isIP(bare(b)) !== 6) return false;
  const canonical = (ip: string) => new URL(`http://[${bare(ip)}]/`).hostname;
  return canonical(a) === canonical(b);
}

function timedOut(server: ServerAddress): Auth4AgentError {
  return lookupFailed(`no answer from ${server.ipAddr}:${server.port} in time`);
}

/**
 * Sends the query over UDP and waits for the first datagram that `accept`s:
 * others (another sender, another ID or question) are dropped, as a spoofed
 * reply would be, and the wait goes on until the signal.
 */
function udpExchange(
  server: ServerAddress,
  query: Uint8Array,
  accept: (msg: Uint8Array) => boolean,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const socket = dgram.createSocket(
    isIP(server.ipAddr) === 6 ? "udp6" : "udp4",
  );
  return new Promise<Uint8Array>((resolve, reject) => {
    let done = false;
    const finish = (settle: () => void) => {
      if (done) return;
      done = true;
      signal.removeEventListener("abort", onAbort);
      socket.close();
      settle();
    };
    const onAbort = () => finish(() => reject(timedOut(server)));
    signal.addEventListener("abort", onAbort);
    socket.on("error", (error) => finish(() => reject(error)));
    socket.on("message", (data, from) => {
      const msg = new Uint8Array(data);
      if (
        from.port === server.port && sameAddress(from.address, server.ipAddr) &&
        accept(msg)
      ) finish(() => resolve(msg));
    });
    socket.send(query, server.port, server.ipAddr, (error) => {
      if (error) finish(() => reject(error));
    });
    if (signal.aborted) onAbort();
  });
}

async function readExactly(conn: Deno.Conn, length: number) {
  const bytes = new Uint8Array(length);
  for (let filled = 0; filled < length;) {
    const n = await conn.read(bytes.subarray(filled));
    if (n === null) throw lookupFailed("the DNS server closed the connection");
    filled += n;
  }
  return bytes;
}

/** One query and its reply over TCP, each message after its 2-byte length. */
async function tcpExchange(
  server: ServerAddress,
  query: Uint8Array,
  signal: AbortSignal,
): Promise<Uint8Array> {
  const conn = await Deno.connect({
    hostname: server.ipAddr,
    port: server.port,
    signal,
  });
  const close = () => {
    try {
      conn.close();
    } catch {
      // already closed
    }
  };
  signal.addEventListener("abort", close);
  try {
    const framed = new Uint8Array([
      query.length >> 8,
      query.length & 0xff,
      ...query,
    ]);
    await conn.write(framed);
    const [high, low] = await readExactly(conn, 2);
    return await readExactly(conn, (high! << 8) | low!);
  } catch (error) {
    throw signal.aborted ? timedOut(server) : error;
  } finally {
    signal.removeEventListener("abort", close);
    close();
  }
}

/** One query to one server: over UDP, again over TCP when the UDP reply is truncated. */
async function exchange(
  server: ServerAddress,
  name: string,
  timeoutMs: number,
): Promise<Reply> {
  const id = crypto.getRandomValues(new Uint16Array(1))[0]!;
  const query = encodeQuery(id, name);
  const signal = AbortSignal.timeout(timeoutMs);
  const udp = await udpExchange(
    server,
    query,
    (msg) => replyHeader(msg, id, name) !== undefined,
    signal,
  );
  const { flags, answersAt } = replyHeader(udp, id, name)!;
  if ((flags & FLAG_TC) === 0) return parseReply(udp, answersAt, flags);
  const tcp = await tcpExchange(server, query, signal);
  const header = replyHeader(tcp, id, name);
  if (!header || (header.flags & FLAG_TC) !== 0) {
    throw lookupFailed(
      `${server.ipAddr}:${server.port} answered over TCP with a reply to another query`,
    );
  }
  return parseReply(tcp, header.answersAt, header.flags);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Asks the servers in turn (twice round) until one answers NOERROR or
 * NXDOMAIN; a server failure (another RCODE, a malformed reply, no reply)
 * moves on to the next. None answering is ERR_DNS_LOOKUP_FAILED.
 */
async function ask(
  servers: readonly ServerAddress[],
  name: string,
  deadline: number,
): Promise<Reply> {
  let problem = "no time left";
  for (const server of [...servers, ...servers]) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    try {
      const reply = await exchange(
        server,
        name,
        Math.min(EXCHANGE_TIMEOUT_MS, left),
      );
      if (reply.rcode === RCODE_NOERROR || reply.rcode === RCODE_NXDOMAIN) {
        return reply;
      }
      problem = `${server.ipAddr}:${server.port} answered ${
        RCODE_NAMES[reply.rcode] ?? `RCODE ${reply.rcode}`
      }`;
    } catch (error) {
      problem = error instanceof MalformedReply
        ? `${server.ipAddr}:${server.port} sent a malformed reply (${error.message})`
        : describe(error);
    }
  }
  throw lookupFailed(`DNS lookup of ${name} TXT failed: ${problem}`);
}

/**
 * The TXT records of `name` in a reply, through the CNAME chain the reply
 * carries; `end` is the last name of the chain (`name` when there is none).
 */
function txtThroughChain(reply: Reply, name: string) {
  let end = asciiLower(name.replace(/\.$/, ""));
  const owned = (type: number) =>
    reply.answers.filter((rr) =>
      rr.name === end && rr.type === type && rr.class === CLASS_IN
    );
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    const txt = owned(TYPE_TXT);
    if (txt.length > 0) return { records: txt.map((rr) => rr.txt!), end };
    const [cname] = owned(TYPE_CNAME);
    if (!cname) return { records: [], end };
    end = cname.target!;
  }
  throw lookupFailed(`more than ${MAX_CNAME_HOPS} CNAMEs from ${name}`);
}

async function lookupTxt(
  servers: readonly ServerAddress[],
  name: string,
  deadline: number,
): Promise<string[][]> {
  let current = name;
  for (let query = 0; query <= MAX_CNAME_HOPS; query++) {
    const reply = await ask(servers, current, deadline);
    const found = txtThroughChain(reply, current);
    if (found.records.length > 0 || reply.rcode === RCODE_NXDOMAIN) {
      return found.records;
    }
    // NODATA, or a CNAME whose target the server did not follow: ask for it.
    if (found.end === asciiLower(current.replace(/\.$/, ""))) return [];
    current = found.end;
  }
  throw lookupFailed(`more than ${MAX_CNAME_HOPS} CNAMEs from ${name}`);
}

export function systemTxtResolver(server?: NameServer): TxtResolver {
  if (!server) {
    return async (name) => {
      const deadline = Date.now() + LOOKUP_TIMEOUT_MS;
      return await lookupTxt(await systemNameServers(), name, deadline);
    };
  }
  // Looked up once; again after a failed lookup or query, in case it moved.
  // The lookup of the server's own name counts against the deadline too.
  let address: Promise<ServerAddress> | undefined;
  return async (name) => {
    const deadline = Date.now() + LOOKUP_TIMEOUT_MS;
    try {
      const found = await withDeadline(
        address ??= nameServerAddress(server),
        LOOKUP_TIMEOUT_MS,
        () => lookupFailed("the DNS lookup took too long"),
      );
      return await lookupTxt([found], name, deadline);
    } catch (error) {
      address = undefined;
      throw error;
    }
  };
}
