/**
 * A real DNS server on loopback for tests, serving TXT records from memory.
 *
 * Built on npm `dns2`: a UDP server plus a TCP server on the same port, since
 * resolvers retry over TCP when a UDP answer comes back truncated (TC=1).
 */
import type { Socket } from "node:net";
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
async function bindUdpAndTcp(handle: dns2.DnsHandler) {
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
    await udp.listen(0, "127.0.0.1");
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
      if (attempt >= 10) throw error;
    }
  }
}

export async function startDnsServer(): Promise<TestDnsServer> {
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

  const { udp, tcp, port, sockets } = await bindUdpAndTcp(handle);

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
