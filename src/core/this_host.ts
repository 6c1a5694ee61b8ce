/**
 * Whether a URL names this host, in the two senses the two uses need: plain
 * http is let through only to names that surely stay on this host, while a
 * URL from outside is refused for naming this host in any spelling. One
 * predicate cannot serve both: the first must err towards "no", the second
 * towards "yes".
 */

/**
 * Plain http may go here: `localhost`, 127.0.0.1 or [::1] — names no DNS
 * answer can send elsewhere (the WHATWG parser has turned `127.1` into
 * 127.0.0.1 already).
 */
export function isSurelyLoopback(url: string): boolean {
  return ["localhost", "127.0.0.1", "[::1]"].includes(new URL(url).hostname);
}

/**
 * May reach this host: `localhost` (and its subdomains), 127.0.0.0/8,
 * 0.0.0.0, `::1`, `::` and IPv4-mapped forms of those (`::ffff:127.0.0.1`
 * parses as `::ffff:7f00:1`).
 */
export function mayBeThisHost(url: string): boolean {
  const host = new URL(url).hostname.toLowerCase().replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  if (/^(127\.[0-9.]+|0\.0\.0\.0)$/.test(host)) return true;
  if (!host.startsWith("[")) return false;
  const v6 = host.slice(1, -1);
  return v6 === "::1" || v6 === "::" ||
    /^::ffff:(7f[0-9a-f]{2}:|0:0$)/.test(v6);
}
