/**
 * `GET /oauth/status-lists/{n}`: list n of the Token Status List
 * (core/status_list.ts), signed with the current signing key: bit i is set
 * when token number n × STATUS_LIST_SIZE + i is revoked. Cached by verifiers
 * for its `ttl`; public, like the JWKS.
 */
import { fail } from "../../core/errors.ts";
import { nowSeconds } from "../../core/jws.ts";
import {
  encodeStatusList,
  signStatusList,
  STATUS_LIST_MEDIA_TYPE,
  STATUS_LIST_SIZE,
  STATUS_LIST_TTL_SECONDS,
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
  const from = n * STATUS_LIST_SIZE;
  const revoked = await deps.store.listRevokedStatusIndexes(
    from,
    from + STATUS_LIST_SIZE,
  );
  const now = deps.now();
  const jwt = signStatusList(
    {
      uri: statusListUri(deps.issuer, n),
      iat: nowSeconds(now),
      lst: encodeStatusList(revoked.map((index) => index - from)),
    },
    deps.keys.signingKey(now),
  );
  return new Response(jwt, {
    headers: {
      "Content-Type": STATUS_LIST_MEDIA_TYPE,
      "Cache-Control": `public, max-age=${STATUS_LIST_TTL_SECONDS}`,
    },
  });
}
