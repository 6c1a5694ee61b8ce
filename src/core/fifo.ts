/**
 * The bounded caches' one eviction rule (keys, standings, rate-limit
 * buckets, status lists): insertion order, oldest out first.
 */

/** Sets `key` as `map`'s newest entry, first dropping the oldest when `map` holds `max`. */
export function setWithin<K, V>(
  map: Map<K, V>,
  key: K,
  value: V,
  max: number,
): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}
