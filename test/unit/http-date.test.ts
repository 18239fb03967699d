import { describe, expect, it } from "vitest";
import { parseHttpDate } from "../../src/remote/http-date.js";

const INSTANT = Date.UTC(1994, 10, 6, 8, 49, 37);

describe("parseHttpDate: the forms servers write", () => {
  it.each([
    ["RFC 1123 (IMF-fixdate)", "Sun, 06 Nov 1994 08:49:37 GMT"],
    ["RFC 1123, one-digit day", "Sun, 6 Nov 1994 08:49:37 GMT"],
    ["RFC 1123 without the day name", "06 Nov 1994 08:49:37 GMT"],
    ["RFC 1123 with +0000", "Sun, 06 Nov 1994 08:49:37 +0000"],
    ["RFC 1123, lower case", "sun, 06 nov 1994 08:49:37 gmt"],
    ["RFC 850", "Sunday, 06-Nov-94 08:49:37 GMT"],
    ["RFC 850, four-digit year", "Sunday, 06-Nov-1994 08:49:37 GMT"],
    ["asctime (GMT, whatever this machine's zone)", "Sun Nov  6 08:49:37 1994"],
    ["ISO 8601 with Z", "1994-11-06T08:49:37Z"],
    ["ISO 8601 with an offset", "1994-11-06T09:49:37+01:00"],
    ["ISO 8601 with a negative offset, no colon", "1994-11-06T03:49:37-0500"],
    ["ISO 8601 with fractions", "1994-11-06T08:49:37.000Z"],
    ["ISO 8601 without a zone (UTC)", "1994-11-06T08:49:37"],
    ["surrounding white space", "\n   Sun, 06 Nov 1994 08:49:37 GMT  \n"],
  ])("%s", (_form, text) => {
    expect(parseHttpDate(text)?.getTime()).toBe(INSTANT);
  });

  it("keeps milliseconds of an ISO date", () => {
    expect(parseHttpDate("2026-11-30T06:19:49.25Z")?.getTime()).toBe(Date.UTC(2026, 10, 30, 6, 19, 49, 250));
  });

  it("reads a two-digit RFC 850 year within 50 years of now (RFC 9110 §5.6.7)", () => {
    const yy = String((new Date().getUTCFullYear() + 10) % 100).padStart(2, "0");
    expect(parseHttpDate(`Monday, 01-Jan-${yy} 00:00:00 GMT`)?.getUTCFullYear()).toBe(new Date().getUTCFullYear() + 10);
  });

  it.each([[""], ["yesterday"], ["Sun, 31 Feb 1994 08:49:37 GMT"], ["Sun, 06 Foo 1994 08:49:37 GMT"], ["1994-13-06T08:49:37Z"], ["1994-11-06T25:49:37Z"], ["784111777"]])(
    "refuses %j",
    (text) => {
      expect(parseHttpDate(text)).toBeNull();
    },
  );

  it("null and undefined are no date", () => {
    expect(parseHttpDate(null)).toBeNull();
    expect(parseHttpDate(undefined)).toBeNull();
  });
});
