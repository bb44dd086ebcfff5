import { test } from "node:test";
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { formatHttpDate, formatLogDate, httpDateNow, logDateNow, MONTH_NAMES, WEEKDAY_NAMES } from "../src/http/dates.js";
import { BaseHTTPRequestHandler } from "../src/server/base_handler.js";
import type { BaseServer } from "../src/socketserver/servers.js";

// The log form uses local time; pin the zone so the expected strings hold on any machine.
process.env.TZ = "UTC";

const HTTP_DATE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$/;

function handler(): BaseHTTPRequestHandler {
  return new BaseHTTPRequestHandler({} as Socket, ["127.0.0.1", 1337], {} as BaseServer);
}

test("formatHttpDate gives RFC 1123 dates in GMT", () => {
  assert.equal(formatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(formatHttpDate(1e9), "Sun, 09 Sep 2001 01:46:40 GMT");
});

test("formatHttpDate handles the epoch, times before it and year 9999", () => {
  assert.equal(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  assert.equal(formatHttpDate(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
  assert.equal(formatHttpDate(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT");
});

test("formatHttpDate drops the fraction of a second", () => {
  assert.equal(formatHttpDate(784111777.75), "Sun, 06 Nov 1994 08:49:37 GMT");
});

test("formatHttpDate zero-pads the day of the month", () => {
  assert.equal(formatHttpDate(Date.UTC(2024, 2, 1, 0, 0, 0) / 1000), "Fri, 01 Mar 2024 00:00:00 GMT");
});

test("formatLogDate gives dd/Mon/yyyy hh:mm:ss in local time", () => {
  assert.equal(formatLogDate(784111777), "06/Nov/1994 08:49:37");
  assert.equal(formatLogDate(Date.UTC(2026, 0, 2, 3, 4, 5) / 1000), "02/Jan/2026 03:04:05");
});

test("httpDateNow and logDateNow describe the current second", () => {
  const before = Math.floor(Date.now() / 1000);
  const http = httpDateNow();
  const log = logDateNow();
  const after = Math.floor(Date.now() / 1000);
  assert.match(http, HTTP_DATE);
  assert.ok([formatHttpDate(before), formatHttpDate(after)].includes(http));
  assert.ok([formatLogDate(before), formatLogDate(after)].includes(log));
});

test("date_time_string(timestamp) formats the given time; without one, the current time", () => {
  const h = handler();
  assert.equal(h.date_time_string(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  assert.equal(h.date_time_string(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  assert.match(h.date_time_string(), HTTP_DATE);
  assert.match(h.date_time_string(null), HTTP_DATE);
});

test("date_time_string reads as the same instant when parsed back", () => {
  const h = handler();
  const now = Math.floor(Date.now() / 1000);
  assert.equal(Date.parse(h.date_time_string(now)) / 1000, now);
});

test("log_date_time_string has Python's %02d/%3s/%04d %02d:%02d:%02d shape", () => {
  assert.match(handler().log_date_time_string(), /^\d\d\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4} \d\d:\d\d:\d\d$/);
});

test("weekdayname and monthname are Python's tables (monthname[0] is None)", () => {
  assert.deepEqual([...WEEKDAY_NAMES], ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
  assert.equal(MONTH_NAMES[0], null);
  assert.equal(MONTH_NAMES[12], "Dec");
  assert.equal(BaseHTTPRequestHandler.monthname.length, 13);
  assert.equal(BaseHTTPRequestHandler.weekdayname[6], "Sun");
});
