/**
 * Without --dns-server, the challenge record is asked by its absolute name:
 * resolv.conf's `search` list and `ndots` must not turn
 * `_auth4agent-challenge.example.com` into `….example.com.corp.test`, whose
 * TXT record would then prove example.com.
 *
 * The system resolver reads /etc/resolv.conf, so the lookup runs in a user,
 * mount and network namespace (`unshare -rmn`) with its own resolv.conf and a
 * DNS server on 127.0.0.1:53; where namespaces are not allowed, it is ignored.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const NAME = "_auth4agent-challenge.example.com";
const SEARCHED = `${NAME}.corp.test`;

async function succeeds(command: string, args: string[]): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(command, {
      args,
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const namespaces = Deno.build.os === "linux" &&
  await succeeds("unshare", ["-rmn", "ip", "link", "set", "lo", "up"]);

async function lookUpInNamespace(zone: Record<string, string>) {
  const conf = await Deno.makeTempFile({ suffix: ".conf" });
  try {
    await Deno.writeTextFile(
      conf,
      "nameserver 127.0.0.1\nsearch corp.test\noptions ndots:5\n",
    );
    const script = 'ip link set lo up && mount --bind "$1" /etc/resolv.conf ' +
      '&& exec "$2" run --allow-all --config "$3" "$4" "$5" "$6"';
    const output = await new Deno.Command("unshare", {
      args: [
        "-rmn",
        "sh",
        "-c",
        script,
        "sh",
        conf,
        Deno.execPath(),
        fileURLToPath(new URL("../../deno.json", import.meta.url)),
        fileURLToPath(new URL("./dns_search_child.ts", import.meta.url)),
        NAME,
        JSON.stringify(zone),
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.ok(output.success, new TextDecoder().decode(output.stderr));
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as {
      answers?: string[][];
      error?: string;
      queries: string[];
    };
  } finally {
    await Deno.remove(conf);
  }
}

Deno.test({
  name:
    "dns search list: the system resolver asks the absolute name, not one under resolv.conf's search domains",
  ignore: !namespaces,
  fn: async () => {
    const both = await lookUpInNamespace({
      [NAME]: "token=real-owner",
      [SEARCHED]: "token=search-domain",
    });
    assert.deepEqual(
      both.answers,
      [["token=real-owner"]],
      JSON.stringify(both),
    );
    assert.deepEqual(both.queries, [NAME]);

    const searchedOnly = await lookUpInNamespace({
      [SEARCHED]: "token=search-domain",
    });
    assert.deepEqual(searchedOnly.answers, [], JSON.stringify(searchedOnly));
    assert.deepEqual(searchedOnly.queries, [NAME]);
  },
});
