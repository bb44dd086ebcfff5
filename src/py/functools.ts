/**
 * What `functools.lru_cache(maxsize)` does for Python code here: results of a pure function of a
 * few distinct keys (format strings, `safe` sets, seconds, extensions), computed once each.
 */

/**
 * `memo.get(key)`, else `make(key)`, stored under `key` first. Bounded rather than least recently
 * used: a memo holding `limit` entries is emptied before the next is stored, so keys that never
 * come again (a client's) cost a recomputation each, never memory, and a hit costs one lookup.
 * `make` must not return `undefined` (it would be computed again every time).
 */
export function remembered<K, V>(memo: Map<K, V>, key: K, limit: number, make: (key: K) => V): V {
  const known = memo.get(key);
  if (known !== undefined) return known;
  const value = make(key);
  if (memo.size >= limit) memo.clear();
  memo.set(key, value);
  return value;
}
