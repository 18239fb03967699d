/**
 * Dates as WebDAV servers write them in `getlastmodified` and the `Date` header. RFC 9110 requires the
 * IMF-fixdate form (RFC 1123) and tells recipients to accept the two obsolete ones (RFC 850, asctime);
 * some servers write ISO 8601 instead (FIELD-NOTES). `Date.parse` is no help here: it reads an asctime
 * date in the machine's time zone (it has none: it is GMT) and accepts all sorts of other text.
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/** "Sun, 06 Nov 1994 08:49:37 GMT" (the day name and the zone are optional: seen without either). */
const RFC1123 = /^(?:[a-z]{3},\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(?:gmt|utc|ut|z|[+-]0000)?$/i;
/** "Sunday, 06-Nov-94 08:49:37 GMT" */
const RFC850 = /^[a-z]+,\s*(\d{1,2})-([a-z]{3})-(\d{2}|\d{4})\s+(\d{1,2}):(\d{2}):(\d{2})\s*(?:gmt|utc)?$/i;
/** "Sun Nov  6 08:49:37 1994" */
const ASCTIME = /^[a-z]{3}\s+([a-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})\s+(\d{4})$/i;
/** "1994-11-06T08:49:37Z", "1994-11-06T08:49:37.123+01:00", "1994-11-06 08:49:37" (no zone: UTC). */
const ISO8601 = /^(\d{4})-(\d{2})-(\d{2})[t ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** The instant a server's date text names, or null when the text is not a date in one of the forms above. */
export function parseHttpDate(text: string | null | undefined): Date | null {
  if (!text) return null;
  const s = text.trim();
  let m: RegExpExecArray | null;
  if ((m = RFC1123.exec(s))) return utc(Number(m[3]), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  if ((m = RFC850.exec(s))) return utc(fullYear(m[3] as string), m[2], Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
  if ((m = ASCTIME.exec(s))) return utc(Number(m[6]), m[1], Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  if ((m = ISO8601.exec(s))) {
    const base = utcNumeric(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
    if (base === null) return null;
    const ms = m[7] ? Math.floor(Number(`0.${m[7]}`) * 1000) : 0;
    return new Date(base + ms - offsetMs(m[8]));
  }
  return null;
}

/** RFC 9110 §5.6.7: a two-digit year more than 50 years in the future is in the past century. */
function fullYear(yy: string): number {
  if (yy.length === 4) return Number(yy);
  const thisYear = new Date().getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + Number(yy);
  if (year > thisYear + 50) year -= 100;
  return year;
}

function utc(year: number, monthName: string | undefined, day: number, h: number, min: number, sec: number): Date | null {
  const month = MONTHS.indexOf((monthName ?? "").toLowerCase()) + 1;
  if (month === 0) return null;
  const t = utcNumeric(year, month, day, h, min, sec);
  return t === null ? null : new Date(t);
}

/** Milliseconds since the epoch, or null for a field out of range (31 Feb, 25:00…). */
function utcNumeric(year: number, month: number, day: number, h: number, min: number, sec: number): number | null {
  // 60 is a leap second: keep it as the last second of the minute rather than refuse the date.
  if (month < 1 || month > 12 || day < 1 || day > 31 || h > 23 || min > 59 || sec > 60) return null;
  const t = Date.UTC(year, month - 1, day, h, min, Math.min(sec, 59));
  // Date.UTC rolls 31 Feb over into March: a date that does not exist is not a date.
  if (new Date(t).getUTCDate() !== day) return null;
  return t;
}

function offsetMs(zone: string | undefined): number {
  if (!zone || /^z$/i.test(zone)) return 0;
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
  if (!m) return 0;
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
  return (m[1] === "-" ? -1 : 1) * minutes * 60_000;
}
