/**
 * A real DNS server on loopback for tests, serving TXT records from memory.
 *
 * Built on npm `dns2`: a UDP server plus a TCP server on the same port, since
 * resolvers retry over TCP when a UDP answer comes back truncated (TC=1).
 * `startRawDnsServer` below sends replies a test crafts byte by byte.
 */
import dgram from "node:dgram";
import net, { type Socket } from "node:net";
import dns2 from "dns2";

const { Packet } = dns2;

export interface TestDnsServer {
  /** "127.0.0.1:PORT" — what `auth4agent serve --dns-server` takes. */
  readonly address: string;
  readonly port: number;
  /**
   * Replace the TXT records of a name (case-insensitive, trailing dot
   * optional). Each record is an array of character-strings (a record split
   * into several strings, RFC 7208 §3.3), each at most 255 bytes of UTF-8.
   */
  setTxt(name: string, records: string[][]): void;
  deleteTxt(name: string): void;
  close(): Promise<void>;
}

const normalize = (name: string) => name.toLowerCase().replace(/\.$/, "");

/**
 * A UDP and a TCP server on one loopback port. The kernel picks a free UDP
 * port; the same TCP port is usually free, and when it is not (another test
 * holds it), both are closed and a new pair is tried.
 */
async function bindUdpAndTcp(handle: dns2.DnsHandler, fixedPort?: number) {
  for (let attempt = 1;; attempt++) {
    const udp = dns2.createUDPServer(handle);
    const tcp = dns2.createTCPServer(handle);
    // tcp.close() waits for open connections (kept alive up to 10 s by dns2),
    // so remember them and destroy them on close.
    const sockets = new Set<Socket>();
    tcp.on("connection", (socket: Socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    // dns2's listen never settles when the port is taken: its socket's
    // error event says so.
    await new Promise<void>((resolve, reject) => {
      udp.once("error", reject);
      udp.listen(fixedPort ?? 0, "127.0.0.1").then(() => {
        udp.off("error", reject);
        resolve();
      }, reject);
    });
    const { port } = udp.address();
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(port, "127.0.0.1", () => {
          tcp.off("error", reject);
          resolve();
        });
      });
      return { udp, tcp, port, sockets };
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      // A port asked for is that port; 0 (any free one) tries another pair.
      if (attempt >= 10 || fixedPort) throw error;
    }
  }
}

/** On `port` of 127.0.0.1 (UDP and TCP), or a free one. */
export async function startDnsServer(
  options: { port?: number } = {},
): Promise<TestDnsServer> {
  const zone = new Map<string, string[][]>();

  const handle: dns2.DnsHandler = (request, send) => {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    const [question] = request.questions;
    const records = question && zone.get(normalize(question.name));
    if (!question || !records) {
      response.header.rcode = Packet.RCODE.NXDOMAIN;
    } else if (question.type === Packet.TYPE.TXT) {
      for (const data of records) {
        // Name, type and class come from the question (asker's spelling kept).
        response.answers.push(
          Packet.createResourceFromQuestion(question, { ttl: 1, data }),
        );
      }
    } // else: the name exists but has no records of that type, NOERROR/empty.
    // UDP send returns a Promise, TCP send returns undefined (despite the
    // typings). A client that went away is not our problem.
    Promise.resolve(send(response)).catch(() => {});
  };

  const { udp, tcp, port, sockets } = await bindUdpAndTcp(
    handle,
    options.port,
  );

  return {
    address: `127.0.0.1:${port}`,
    port,
    setTxt(name, records) {
      for (const record of records) {
        for (const s of record) {
          // dns2 writes the length octet without checking: 256 bytes would
          // silently go out as 0 and corrupt the message.
          if (new TextEncoder().encode(s).length > 255) {
            throw new RangeError(`TXT character-string over 255 bytes: ${s}`);
          }
        }
      }
      zone.set(normalize(name), records.map((r) => [...r]));
    },
    deleteTxt(name) {
      zone.delete(normalize(name));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve, reject) =>
          tcp.close((err) => err ? reject(err) : resolve())
        ),
      ]);
    },
  };
}

// ---------------------------------------------------------------------------
// A raw DNS server: replies crafted byte by byte, for what dns2 cannot send
// (any RCODE, another ID or question, TC=1, records for other names).

export interface RawQuery {
  id: number;
  /** As asked, labels joined by "." (no trailing dot). */
  name: string;
  type: number;
  /** The question section as received (QNAME, QTYPE, QCLASS). */
  question: Uint8Array;
  transport: "udp" | "tcp";
}

/** The reply to send (or several, in order), or null to stay silent. */
export type RawHandler = (
  query: RawQuery,
) => Uint8Array | Uint8Array[] | null;

export interface RawDnsServer {
  readonly port: number;
  /** Every query received, in order. */
  readonly queries: RawQuery[];
  close(): Promise<void>;
}

export interface RawRecord {
  name: string;
  type: number;
  class?: number;
  rdata: Uint8Array;
}

export const DNS_TYPE = { A: 1, CNAME: 5, TXT: 16 } as const;
export const DNS_RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

export function dnsName(name: string): Uint8Array {
  const labels = name.replace(/\.$/, "").split(".").filter(Boolean);
  const bytes = labels.flatMap((
    l,
  ) => [l.length, ...new TextEncoder().encode(l)]);
  return new Uint8Array([...bytes, 0]);
}

export function txtRdata(strings: string[]): Uint8Array {
  return new Uint8Array(strings.flatMap((s) => {
    const bytes = new TextEncoder().encode(s);
    return [bytes.length, ...bytes];
  }));
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];

/** A reply to `query`: its ID and question unless overridden. */
export function rawReply(query: RawQuery, options: {
  rcode?: number;
  truncated?: boolean;
  id?: number;
  question?: Uint8Array;
  answers?: RawRecord[];
} = {}): Uint8Array {
  const answers = options.answers ?? [];
  const flags = 0x8180 | (options.truncated ? 0x0200 : 0) |
    (options.rcode ?? 0);
  const records = answers.flatMap((r) => [
    ...dnsName(r.name),
    ...u16(r.type),
    ...u16(r.class ?? 1),
    0,
    0,
    0,
    60,
    ...u16(r.rdata.length),
    ...r.rdata,
  ]);
  return new Uint8Array([
    ...u16(options.id ?? query.id),
    ...u16(flags),
    ...u16(1),
    ...u16(answers.length),
    ...u16(0),
    ...u16(0),
    ...(options.question ?? query.question),
    ...records,
  ]);
}

function parseRawQuery(msg: Uint8Array, transport: "udp" | "tcp"): RawQuery {
  const labels: string[] = [];
  let offset = 12;
  while (msg[offset]) {
    const length = msg[offset]!;
    labels.push(
      new TextDecoder().decode(msg.subarray(offset + 1, offset + 1 + length)),
    );
    offset += 1 + length;
  }
  return {
    id: (msg[0]! << 8) | msg[1]!,
    name: labels.join("."),
    type: (msg[offset + 1]! << 8) | msg[offset + 2]!,
    question: msg.slice(12, offset + 5),
    transport,
  };
}

/** UDP and TCP on one loopback port: 0 for any free one, or a given one. */
export async function startRawDnsServer(
  handler: RawHandler,
  port = 0,
): Promise<RawDnsServer> {
  const queries: RawQuery[] = [];
  const answer = (msg: Uint8Array, transport: "udp" | "tcp") => {
    const query = parseRawQuery(msg, transport);
    queries.push(query);
    const replies = handler(query);
    return replies instanceof Uint8Array ? [replies] : replies ?? [];
  };
  for (let attempt = 1;; attempt++) {
    const udp = dgram.createSocket("udp4");
    udp.on("message", (msg, from) => {
      for (const reply of answer(new Uint8Array(msg), "udp")) {
        udp.send(reply, from.port, from.address);
      }
    });
    await new Promise<void>((resolve) => udp.bind(port, "127.0.0.1", resolve));
    const bound = udp.address().port;
    const sockets = new Set<Socket>();
    const tcp = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
      let buffered = new Uint8Array(0);
      socket.on("data", (data) => {
        buffered = new Uint8Array([...buffered, ...data]);
        const length = (buffered[0]! << 8) | buffered[1]!;
        if (buffered.length < 2 + length) return;
        const replies = answer(buffered.slice(2, 2 + length), "tcp");
        buffered = buffered.slice(2 + length);
        for (const reply of replies) {
          socket.write(new Uint8Array([...u16(reply.length), ...reply]));
        }
      });
    });
    const closeUdp = () =>
      new Promise<void>((resolve) => udp.close(() => resolve()));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once("error", reject);
        tcp.listen(bound, "127.0.0.1", resolve);
      });
    } catch (error) {
      // The TCP port is taken (only possible when the kernel picked it).
      await closeUdp();
      if (port !== 0 || attempt >= 10) throw error;
      continue;
    }
    return {
      port: bound,
      queries,
      async close() {
        for (const socket of sockets) socket.destroy();
        await closeUdp();
        await new Promise<void>((resolve) => tcp.close(() => resolve()));
      },
    };
  }
}
