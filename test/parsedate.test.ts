/** `parsedate_to_datetime` (src/http/dates.ts): `email.utils`' date parsing, as If-Modified-Since uses it. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parsedate_to_datetime } from "../src/http/dates.js";

// [header value, expected: null (Python raises ValueError) or [timestamp, "UTC" | "naive" | "other"]]
// Values computed with Python 3.11's email.utils.parsedate_to_datetime.
const cases: [string, [number, "UTC" | "naive" | "other"] | null][] = [
  ["Sun, 06 Nov 1994 08:49:37 GMT", [784111777, "UTC"]],
  ["Sunday, 06-Nov-94 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun Nov  6 08:49:37 1994", [784111777, "naive"]],
  ["Sun, 06 Nov 1994 08:49:37 +0000", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37 -0000", [784111777, "naive"]],
  ["Sun, 06 Nov 1994 08:49:37 +0100", [784108177, "other"]],
  ["Sun, 06 Nov 1994 08:49:37 EST", [784129777, "other"]],
  ["Sun, 06 Nov 1994 08:49:37 UT", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37 Z", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37 gmt", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37 FOO", [784111777, "naive"]],
  ["06 Nov 1994 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun,06 Nov 1994 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun, 06 Nov 94 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun, 06 Nov 68 08:49:37 GMT", [3119417377, "UTC"]],
  ["Sun, 06 Nov 69 08:49:37 GMT", [-4806623, "UTC"]],
  ["Sun, 06 Nov 1994 08:49 GMT", [784111740, "UTC"]],
  ["Sun, 06 Nov 1994 08.49.37 GMT", [784111777, "UTC"]],
  ["Sun, Nov 06 1994 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun, 06 November 1994 08:49:37 GMT", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37 +0000 extra", [784111777, "UTC"]],
  ["Sun, 06 Nov 1994 08:49:37+0100", [784108177, "other"]],
  ["Sun, 29 Feb 2000 00:00:00 GMT", [951782400, "UTC"]],
  ["Sun, 06 Nov 1_994 08:49:37 GMT", [784111777, "UTC"]],
  ["Thu, 01 Jan 1970 00:00:00 GMT", [0, "UTC"]],
  ["Sun, 31 Apr 1994 08:49:37 GMT", null],
  ["Sun, 06 Nov 1994 24:00:00 GMT", null],
  ["Sun, 06 Nov 1994 08:49:60 GMT", null],
  ["Sun, 29 Feb 1900 00:00:00 GMT", null],
  ["Sun, 06 Nov 1994 08:49:37 +2400", null],
  ["Sun, 06 Nov -5 08:49:37 GMT", null],
  ["Sun, 06 Nov 1994", null],
  ["garbage", null],
  ["", null],
  ["   ", null],
];

for (const [value, expected] of cases) {
  test(`parsedate_to_datetime(${JSON.stringify(value)})`, () => {
    const parsed = parsedate_to_datetime(value);
    if (expected === null) {
      assert.equal(parsed, null);
      return;
    }
    assert.ok(parsed);
    const kind = parsed.isUTC ? "UTC" : parsed.tzoffset === null ? "naive" : "other";
    assert.deepEqual([parsed.timestamp, kind], expected);
  });
}
