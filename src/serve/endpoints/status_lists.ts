/**
 * `GET /oauth/status-lists/{n}`: list n of the Token Status List
 * (core/status_list.ts), signed with the current signing key: bit i is set
 * when token number n × STATUS_LIST_SIZE + i is revoked. Public, like the
 * JWKS; kept a few seconds here (status_list_cache.ts), by verifiers for its
 * `ttl`.
 */
import { fail } from "../../core/errors.ts";
import { nowSeconds } from "../../core/jws.ts";
import {
  encodeStatusList,
  signStatusList,
  STATUS_LIST_MEDIA_TYPE,
  STATUS_LIST_SIZE,
  statusListUri,
} from "../../core/status_list.ts";
import type { AppDeps } from "../context.ts";

/** Lists are numbered 0, 1, …; anything else (signs, leading zeros, huge numbers) is not a list. */
const LIST_NUMBER = /^(0|[1-9][0-9]{0,8})$/;

export async function statusListEndpoint(
  list: string,
  deps: AppDeps,
): Promise<Response> {
  if (!LIST_NUMBER.test(list)) {
    fail("ERR_NOT_FOUND", `no status list ${JSON.stringify(list)}`);
  }
  const n = Number(list);
  const jwt = await deps.statusLists.get(n, deps.now(), () => build(n, deps));
  return new Response(jwt, {
    headers: {
      "Content-Type": STATUS_LIST_MEDIA_TYPE,
      // Its ttl and iat say how long it may be used (draft §8.2); caches on
      // the way must ask again, so that no verifier gets an old list.
      "Cache-Control": "no-cache",
    },
  });
}

async function build(n: number, deps: AppDeps): Promise<string> {
  const from = n * STATUS_LIST_SIZE;
  const revoked = await deps.store.listRevokedStatusIndexes(
    from,
    from + STATUS_LIST_SIZE,
  );
  const now = deps.now();
  return signStatusList(
    {
      uri: statusListUri(deps.issuer, n),
      iat: nowSeconds(now),
      lst: encodeStatusList(revoked.map((index) => index - from)),
    },
    deps.keys.signingKey(now),
  );
}
