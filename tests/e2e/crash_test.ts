/**
 * Crash safety: `kill -9` of the server under load loses no acknowledged
 * write, and after a restart no challenge or jti can be used twice.
 *
 * The real server runs as a subprocess on a SQLite file with a fixed
 * `--issuer` (tokens must stay valid across restarts; each process listens on
 * its own port 0 and the client's fetch is pointed at whichever one runs).
 * Each round puts the server under load from concurrent loops on loopback —
 * tokens through the challenge flow, tokens with pre-signed jti-only client
 * assertions, revocations, and challenges that are fetched and signed but
 * kept back — then SIGKILLs it mid-load and restarts it on the same file.
 *
 * Only acknowledged operations (a complete success answer arrived) are held
 * to account, so the assertions do not depend on where the kill lands:
 * - every acknowledged token still introspects active, unless its revocation
 *   was acknowledged (then inactive and on the operator's revocation list);
 *   a token whose revocation got no answer may be either, and is skipped;
 * - every acknowledged jti-only assertion, replayed, is `invalid_client` /
 *   ERR_ASSERTION_REPLAYED; every acknowledged challenge assertion, replayed,
 *   is `invalid_grant` / ERR_CHALLENGE_INVALID;
 * - an assertion sent but not answered before the kill works at most once
 *   after the restart (the second try is always refused);
 * - a challenge issued before the kill and never used works exactly once;
 * - the JWKS `kid` is unchanged.
 * The checks are cumulative: round 2 re-checks everything from round 1.
 */
import assert from "node:assert/strict";
import * as jose from "jose";
import { IssuerClient } from "../../src/client/issuer_client.ts";
import {
  CLIENT_ASSERTION_TYPE,
  createClientAssertion,
  MAX_ASSERTION_LIFETIME_SECONDS,
} from "../../src/core/client_assertion.ts";
import { didForKey } from "../../src/core/did.ts";
import { generateKeyPair } from "../../src/core/keys.ts";
import {
  type Answer,
  fetchVia,
  type KillableServer,
  mapLimit,
  postForm,
  spawnServer,
} from "../helpers/crash_load.ts";
import { startDnsServer } from "../helpers/dns_server.ts";

/** Fixed for every process; need not resolve (fetchVia routes it). */
const ISSUER = "http://issuer.crash.test";
const DOMAIN = "crash.example";
const SCOPES = ["read:data", "write:data"];
const ROUNDS = 2;
const AGENTS = 3;
/** Per round: the load stops after this long or this many requests. */
const LOAD_MS = 3_000;
const LOAD_REQUESTS = 1_500;
/** Tokens issued before the load, for the revocation loop to start on. */
const PRE_ISSUED = 20;
const PRESIGNED = 600;
/** Every PARK_EVERY-th challenge of the challenge loop is kept, unused. */
const PARK_EVERY = 8;
const CHECK_CONCURRENCY = 16;

interface Agent {
  did: string;
  privateKey: CryptoKey;
}

interface IssuedToken {
  token: string;
  jti: string;
  agent: number;
  scope: string;
  round: number;
}

/** One token request's form, client assertion included: replayable as is. */
interface Attempt {
  kind: "jti" | "challenge";
  params: Record<string, string>;
  agent: number;
  scope: string;
}

/** What the test knows was acknowledged, over all rounds. */
class Ledger {
  tokens = new Map<string, IssuedToken>();
  /** Revocations whose success answer arrived. */
  revoked = new Set<string>();
  /** Revocations sent without an answer: the token may be either. */
  revocationUnknown = new Set<string>();
  ackedJti: Attempt[] = [];
  ackedChallenge: Attempt[] = [];
  /** Sent, no answer before the kill: outcome unknown. */
  inFlight: Attempt[] = [];
  /** Challenges issued (201 arrived), signed, never sent. */
  parked: Attempt[] = [];

  addToken(body: Record<string, unknown>, agent: number, round: number): void {
    const token = String(body.access_token);
    const { jti } = jose.decodeJwt(token);
    assert.equal(typeof jti, "string");
    this.tokens.set(jti!, {
      token,
      jti: jti!,
      agent,
      scope: String(body.scope),
      round,
    });
  }

  acked(attempt: Attempt): void {
    (attempt.kind === "jti" ? this.ackedJti : this.ackedChallenge).push(
      attempt,
    );
  }
}

interface RoundStats {
  round: number;
  requestsStarted: number;
  killedAfterMs: number;
  tokensViaIssueToken: number;
  tokensViaChallenge: number;
  tokensViaJti: number;
  revocations: number;
  parkedChallenges: number;
  inFlightAtKill: number;
  revocationsUnanswered: number;
  restartMs: number;
  checkedTokens: number;
}

function tokenForm(
  agent: Agent,
  assertion: string,
  scope: string,
): Record<string, string> {
  return {
    grant_type: "client_credentials",
    client_id: agent.did,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: assertion,
    scope,
  };
}

function describe(answer: Answer): string {
  const { access_token, ...rest } = answer.body;
  const token = typeof access_token === "string"
    ? ` token jti ${jose.decodeJwt(access_token).jti}`
    : "";
  return `HTTP ${answer.status} ${JSON.stringify(rest)}${token}`;
}

/** The refusal a replayed attempt must get. */
function isRefusal(attempt: Attempt, answer: Answer): boolean {
  return attempt.kind === "jti"
    ? answer.status === 401 && answer.body.error === "invalid_client" &&
      answer.body.error_code === "ERR_ASSERTION_REPLAYED"
    : answer.status === 400 && answer.body.error === "invalid_grant" &&
      answer.body.error_code === "ERR_CHALLENGE_INVALID";
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("crash safety: kill -9 under load loses no acknowledged write; no challenge or jti is usable twice after restart", async () => {
  const testStart = performance.now();
  const dir = await Deno.makeTempDir({ prefix: "a4a-crash-" });
  const dns = await startDnsServer();
  const args = [
    "--db",
    `${dir}/issuer.db`,
    "--dns-server",
    dns.address,
    "--rate-limit",
    "0",
    "--issuer",
    ISSUER,
  ];
  let server: KillableServer | undefined = await spawnServer(args);
  try {
    assert.equal(server.issuer, ISSUER);
    const client = new IssuerClient(ISSUER, {
      fetch: fetchVia(ISSUER, () => server!.origin),
    });

    // An operator with a verified domain, agents, and their grants.
    const operatorKeys = await generateKeyPair();
    const operatorId =
      (await client.registerOperator(DOMAIN, operatorKeys)).operator_id;
    const operator = { privateKey: operatorKeys.privateKey, kid: operatorId };
    const { dns_record } = await client.dnsRecord(operatorId, operator);
    dns.setTxt(dns_record.name, [[dns_record.value]]);
    assert.equal(
      (await client.verifyDomain(operatorId, operator)).verified,
      true,
    );
    const agents: Agent[] = [];
    for (let i = 0; i < AGENTS; i++) {
      const keys = await generateKeyPair();
      const did = await didForKey(DOMAIN, keys.publicJwk);
      await client.registerAgent(did, operatorId, keys);
      await client.setAgentScopes(did, SCOPES, operator);
      agents.push({ did, privateKey: keys.privateKey });
    }
    const kids = (await client.jwks()).keys.map((k) => k.kid);
    assert.equal(kids.length, 1);

    const ledger = new Ledger();
    const stats: RoundStats[] = [];
    const scopeFor = (n: number) => SCOPES[n % SCOPES.length]!;
    const sign = (agent: Agent, nonce?: string) =>
      createClientAssertion({
        clientId: agent.did,
        audience: ISSUER,
        privateKey: agent.privateKey,
        now: new Date(),
        nonce,
        // Long enough that replays are refused as replays, not as expired.
        lifetimeSeconds: MAX_ASSERTION_LIFETIME_SECONDS,
      });

    for (let round = 1; round <= ROUNDS; round++) {
      const live: KillableServer = server!;
      // Tokens to revoke under load, and pre-signed jti-only assertions.
      const revocable: IssuedToken[] = [];
      for (let i = 0; i < PRE_ISSUED; i++) {
        const a = i % AGENTS;
        const body = await client.issueToken(
          agents[a]!.did,
          agents[a]!.privateKey,
          {
            scope: scopeFor(i),
          },
        );
        ledger.addToken({ ...body }, a, round);
        revocable.push(
          ledger.tokens.get(jose.decodeJwt(body.access_token).jti!)!,
        );
      }
      const presigned: Attempt[] = await Promise.all(
        Array.from({ length: PRESIGNED }, async (_, i) => {
          const a = i % AGENTS;
          const scope = scopeFor(i + 1);
          return {
            kind: "jti" as const,
            params: tokenForm(agents[a]!, await sign(agents[a]!), scope),
            agent: a,
            scope,
          };
        }),
      );

      // --- the load ---
      const counts = {
        issueToken: 0,
        challenge: 0,
        jti: 0,
        revocations: 0,
        parked: 0,
      };
      const unexpected: string[] = [];
      let started = 0;
      let killing = false;
      const loadStart = performance.now();
      /** Claims `n` requests of the budget; false when the loop must stop. */
      const claim = (n: number) => {
        if (
          killing || started + n > LOAD_REQUESTS ||
          performance.now() - loadStart > LOAD_MS
        ) return false;
        started += n;
        return true;
      };
      const failed = (what: string, error: unknown) => {
        if (!killing) unexpected.push(`${what}: ${String(error)}`);
      };
      const newToken = (body: Record<string, unknown>, a: number) => {
        ledger.addToken(body, a, round);
        const jti = jose.decodeJwt(String(body.access_token)).jti!;
        // Every third token of the load is revoked under load as well.
        if (ledger.tokens.size % 3 === 0) {
          revocable.push(ledger.tokens.get(jti)!);
        }
      };

      /**
       * Posts a token request and books it: acknowledged (a token), refused
       * (unexpected), or lost in flight (no answer: the server went away).
       */
      const send = async (
        attempt: Attempt,
        what: string,
      ): Promise<"acked" | "refused" | "lost"> => {
        let answer: Answer;
        try {
          answer = await postForm(live.origin + "/oauth/token", attempt.params);
        } catch (error) {
          ledger.inFlight.push(attempt);
          failed(what, error);
          return "lost";
        }
        if (answer.status !== 200) {
          unexpected.push(`${what}: ${describe(answer)}`);
          return "refused";
        }
        ledger.acked(attempt);
        newToken(answer.body, attempt.agent);
        return "acked";
      };

      // (1) Tokens through IssuerClient.issueToken (challenge + token).
      const issueLoop = async (worker: number) => {
        for (let n = worker; claim(2); n += 2) {
          const a = n % AGENTS;
          try {
            const body = await client.issueToken(
              agents[a]!.did,
              agents[a]!.privateKey,
              { scope: scopeFor(n) },
            );
            newToken({ ...body }, a);
            counts.issueToken++;
          } catch (error) {
            return failed("issueToken", error);
          }
        }
      };
      // (1') The challenge flow by hand, keeping each signed assertion; every
      // PARK_EVERY-th challenge is signed but kept back (never sent).
      const challengeLoop = async (worker: number) => {
        for (let i = 0, n = worker; claim(2); i++, n += 2) {
          const a = n % AGENTS;
          const agent = agents[a]!;
          let nonce: string;
          try {
            nonce = (await client.challenge(agent.did)).nonce;
          } catch (error) {
            return failed("challenge", error);
          }
          const scope = scopeFor(n);
          const attempt: Attempt = {
            kind: "challenge",
            params: tokenForm(agent, await sign(agent, nonce), scope),
            agent: a,
            scope,
          };
          if (i % PARK_EVERY === PARK_EVERY - 1) {
            ledger.parked.push(attempt);
            counts.parked++;
            continue;
          }
          const sent = await send(attempt, "challenge token");
          if (sent === "lost") return;
          if (sent === "acked") counts.challenge++;
        }
      };
      // (2) Tokens with pre-signed jti-only assertions.
      let nextPresigned = 0;
      const jtiLoop = async () => {
        while (nextPresigned < presigned.length && claim(1)) {
          const attempt = presigned[nextPresigned++]!;
          const sent = await send(attempt, "jti token");
          if (sent === "lost") return;
          if (sent === "acked") counts.jti++;
        }
      };
      // (3) Revocations, by the token's own agent.
      const revokeLoop = async () => {
        while (!killing) {
          const target = revocable.shift();
          if (!target) {
            await delay(2);
            continue;
          }
          if (!claim(1)) return;
          const agent = agents[target.agent]!;
          ledger.revocationUnknown.add(target.jti);
          try {
            const answer = await client.revoke(
              target.token,
              agent.did,
              agent.privateKey,
              "crash test",
            );
            assert.deepEqual(answer, { revoked: true, jti: target.jti });
          } catch (error) {
            return failed("revoke", error);
          }
          ledger.revocationUnknown.delete(target.jti);
          ledger.revoked.add(target.jti);
          counts.revocations++;
        }
      };
      // The kill lands at a different point in each round.
      const killAfterMs = 400 + 400 * round;
      const killAfterRequests = 400 + 250 * round;
      const killer = async () => {
        while (
          started < killAfterRequests &&
          performance.now() - loadStart < killAfterMs
        ) await delay(1);
        killing = true;
        const killedAfterMs = performance.now() - loadStart;
        const status = await live.kill();
        return { status, killedAfterMs };
      };
      const [{ status, killedAfterMs }] = await Promise.all([
        killer(),
        issueLoop(0),
        issueLoop(1),
        challengeLoop(0),
        challengeLoop(1),
        jtiLoop(),
        jtiLoop(),
        revokeLoop(),
      ]);
      assert.equal(
        status.signal,
        "SIGKILL",
        `the server ended before the kill:\n${live.log()}`,
      );
      assert.deepEqual(
        unexpected,
        [],
        `failures before the kill:\n${live.log()}`,
      );
      assert.doesNotMatch(live.log(), /"level":"error"/);
      assert.ok(
        counts.issueToken > 0 && counts.challenge > 0 && counts.jti > 0,
      );
      assert.ok(counts.revocations > 0 && counts.parked > 0);

      // --- restart on the same database ---
      const restartStart = performance.now();
      server = undefined;
      server = await spawnServer(args);
      const restartMs = performance.now() - restartStart;
      assert.equal(server.issuer, ISSUER);
      const health = await client.health();
      assert.equal(health.http_status, 200);
      assert.equal(health.database, "ok");
      assert.deepEqual((await client.jwks()).keys.map((k) => k.kid), kids);

      const inFlightAtKill = ledger.inFlight.length;
      const problems: string[] = [];
      const submit = (attempt: Attempt) =>
        postForm(server!.origin + "/oauth/token", attempt.params);

      // Sent but unanswered: at most one success now, never two.
      for (const attempt of ledger.inFlight.splice(0)) {
        const first = await submit(attempt);
        const second = await submit(attempt);
        if (first.status === 200) {
          ledger.addToken(first.body, attempt.agent, round);
          ledger.acked(attempt);
        } else if (!isRefusal(attempt, first)) {
          problems.push(
            `unanswered ${attempt.kind}, first retry: ${describe(first)}`,
          );
        }
        if (!isRefusal(attempt, second)) {
          problems.push(
            `unanswered ${attempt.kind}, second retry: ${describe(second)}`,
          );
        }
      }
      // Issued before the kill, never used: exactly once.
      for (const attempt of ledger.parked.splice(0)) {
        const first = await submit(attempt);
        const second = await submit(attempt);
        if (first.status !== 200) {
          problems.push(
            `unused challenge refused after restart: ${describe(first)}`,
          );
        } else {
          ledger.addToken(first.body, attempt.agent, round);
          ledger.acked(attempt);
        }
        if (!isRefusal(attempt, second)) {
          problems.push(`unused challenge, second use: ${describe(second)}`);
        }
      }
      // Every acknowledged assertion, from every round, replayed: refused.
      const replays = [...ledger.ackedJti, ...ledger.ackedChallenge];
      await mapLimit(replays, CHECK_CONCURRENCY, async (attempt) => {
        const answer = await submit(attempt);
        if (!isRefusal(attempt, answer)) {
          problems.push(
            `acknowledged ${attempt.kind} assertion replayed: ${
              describe(answer)
            }`,
          );
        }
      });
      // Every acknowledged token: active, unless its revocation was acknowledged.
      const tokens = [...ledger.tokens.values()];
      const introspector = agents[0]!;
      await mapLimit(tokens, CHECK_CONCURRENCY, async (t) => {
        if (ledger.revocationUnknown.has(t.jti)) return;
        const answer = await client.introspect(
          t.token,
          introspector.did,
          introspector.privateKey,
        );
        const expected = !ledger.revoked.has(t.jti);
        if (answer.active !== expected) {
          problems.push(
            `token ${t.jti} (round ${t.round}) introspects ${
              JSON.stringify(answer)
            }, expected active=${expected}`,
          );
        } else if (
          expected &&
          (answer.jti !== t.jti || answer.sub !== agents[t.agent]!.did ||
            answer.scope !== t.scope || answer.iss !== ISSUER)
        ) {
          problems.push(`token ${t.jti} introspects ${JSON.stringify(answer)}`);
        }
      });
      // Every acknowledged revocation is on the operator's list.
      const listed = new Set(
        (await client.revocations(operatorId, operator)).tokens.map((t) =>
          t.jti
        ),
      );
      for (const jti of ledger.revoked) {
        if (!listed.has(jti)) problems.push(`revoked ${jti} is not listed`);
      }
      assert.deepEqual(
        problems.slice(0, 20),
        [],
        `${problems.length} problems after restart ${round}`,
      );

      stats.push({
        round,
        requestsStarted: started,
        killedAfterMs: Math.round(killedAfterMs),
        tokensViaIssueToken: counts.issueToken,
        tokensViaChallenge: counts.challenge,
        tokensViaJti: counts.jti,
        revocations: counts.revocations,
        parkedChallenges: counts.parked,
        inFlightAtKill,
        revocationsUnanswered: ledger.revocationUnknown.size,
        restartMs: Math.round(restartMs),
        checkedTokens: tokens.length,
      });
    }

    const code = await server!.stop();
    server = undefined;
    assert.equal(code, 0);
    console.log(
      JSON.stringify({
        stats,
        totals: {
          tokens: ledger.tokens.size,
          revoked: ledger.revoked.size,
          ackedJti: ledger.ackedJti.length,
          ackedChallenge: ledger.ackedChallenge.length,
        },
        seconds: Math.round(performance.now() - testStart) / 1000,
      }),
    );
  } catch (error) {
    // What the running server said is the first thing to read on a failure.
    if (server) console.error(`server log:\n${server.log()}`);
    throw error;
  } finally {
    if (server) await server.kill();
    await dns.close();
    await Deno.remove(dir, { recursive: true });
  }
});
