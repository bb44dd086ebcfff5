/**
 * Dates in the two forms the server writes: RFC 1123 in GMT for headers
 * (`email.utils.formatdate(ts, usegmt=True)`) and local time for log lines.
 * Both are cached per second: a busy server formats each at most once a second.
 */

export const WEEKDAY_NAMES = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"] as const;
export const MONTH_NAMES = [null, "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

const pad2 = (n: number) => (n < 10 ? "0" : "") + n;

/** `email.utils.formatdate(timestamp, usegmt=True)`: `Sun, 06 Nov 1994 08:49:37 GMT`. */
export function formatHttpDate(timestamp: number): string {
  const d = new Date(Math.floor(timestamp) * 1000);
  const weekday = WEEKDAY_NAMES[(d.getUTCDay() + 6) % 7];
  const year = String(d.getUTCFullYear()).padStart(4, "0");
  return `${weekday}, ${pad2(d.getUTCDate())} ${MONTH_NAMES[d.getUTCMonth() + 1]} ${year} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())} GMT`;
}

/** The local-time log form `21/Nov/2026 22:23:50` (`"%02d/%3s/%04d %02d:%02d:%02d"`). */
export function formatLogDate(timestamp: number): string {
  const d = new Date(Math.floor(timestamp) * 1000);
  return `${pad2(d.getDate())}/${MONTH_NAMES[d.getMonth() + 1]}/${String(d.getFullYear()).padStart(4, "0")} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** A formatter whose result is reused for every call within the same second. */
function perSecond(format: (seconds: number) => string): () => string {
  let second = -1;
  let text = "";
  return () => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) {
      second = now;
      text = format(now);
    }
    return text;
  };
}

/** The current time as an HTTP date, formatted at most once a second. */
export const httpDateNow = perSecond(formatHttpDate);

/** The current time as a log date, formatted at most once a second. */
export const logDateNow = perSecond(formatLogDate);
