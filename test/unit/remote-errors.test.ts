import { describe, expect, it } from "vitest";
import { SyncdError } from "../../src/errors.js";
import { isRemoteError, parseRetryAfter, redactUrl, RemoteError, toRemoteError } from "../../src/remote/errors.js";

const URL = "http://127.0.0.1:8080/syncd/metadata.db";

/** What the webdav client throws for a status ≥ 400 (response.js createErrorFromResponse). */
function clientError(status: number, statusText: string, headers: Record<string, string> = {}): Error {
  const err = new Error(`Invalid response: ${status} ${statusText}`) as Error & { status: number; response: unknown };
  err.status = status;
  err.response = { status, statusText, headers: new Headers(headers) };
  return err;
}

/** What node-fetch throws for a failed connection. */
function systemError(code: string): Error {
  const err = new Error(`request to ${URL} failed, reason: ${code}`) as Error & { code: string; type: string; name: string };
  err.name = "FetchError";
  err.code = code;
  err.type = "system";
  return err;
}

describe("toRemoteError: HTTP statuses", () => {
  it.each([
    [401, "Unauthorized", "auth"],
    [403, "Forbidden", "auth"],
    [404, "Not Found", "not-found"],
    [409, "Conflict", "conflict"],
    [412, "Precondition Failed", "precondition"],
    [423, "Locked", "locked"],
    [429, "Too Many Requests", "rate-limited"],
    [507, "Insufficient Storage", "insufficient-storage"],
    [500, "Internal Server Error", "server"],
    [502, "Bad Gateway", "server"],
    [503, "Service Unavailable", "server"],
    [400, "Bad Request", "protocol"],
    [405, "Method Not Allowed", "protocol"],
  ] as const)("%i → %s", (status, text, kind) => {
    const err = toRemoteError(clientError(status, text), "PUT", URL);
    expect(err).toBeInstanceOf(RemoteError);
    expect(err).toBeInstanceOf(SyncdError);
    expect(err.kind).toBe(kind);
    expect(err.status).toBe(status);
    expect(err.method).toBe("PUT");
    expect(err.url).toBe(URL);
    expect(err.code).toBe(`remote-${kind}`);
    expect(err.exitCode).toBe(1);
    expect(err.message).toMatch(new RegExp(`^WebDAV PUT ${URL.replace(/\./g, "\\.")} failed: ${status} ${text}`));
    expect(err.message).toMatch(/\.$/);
    expect(err.message.split(/\.\s+[A-Z]/).length).toBe(1); // one sentence
  });

  it("401 says what to check, exactly as documented", () => {
    expect(toRemoteError(clientError(401, "Unauthorized"), "PUT", URL).message).toBe(
      `WebDAV PUT ${URL} failed: 401 Unauthorized (check webdav.username and the password).`,
    );
  });

  it("falls back to the standard reason phrase when the server sends none", () => {
    expect(toRemoteError(clientError(404, ""), "GET", URL).message).toBe(`WebDAV GET ${URL} failed: 404 Not Found.`);
  });

  it("parses Retry-After seconds on 429 and 503, not on other statuses", () => {
    const limited = toRemoteError(clientError(429, "Too Many Requests", { "Retry-After": "7" }), "GET", URL);
    expect(limited.retryAfterMs).toBe(7000);
    expect(limited.message).toContain("retry in 7 s");
    expect(toRemoteError(clientError(503, "Service Unavailable", { "Retry-After": "120" }), "GET", URL).retryAfterMs).toBe(120_000);
    expect(toRemoteError(clientError(500, "Internal Server Error", { "Retry-After": "5" }), "GET", URL).retryAfterMs).toBeUndefined();
    expect(toRemoteError(clientError(429, "Too Many Requests"), "GET", URL).retryAfterMs).toBeUndefined();
  });

  it("parses Retry-After as an HTTP date", () => {
    const now = Date.parse("2026-11-23T10:00:00Z");
    expect(parseRetryAfter("Mon, 23 Nov 2026 10:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Mon, 23 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter("soon", now)).toBeUndefined();
  });
});

describe("toRemoteError: network failures", () => {
  it.each([
    ["ECONNREFUSED", "network", "connection refused (is the server running?)"],
    ["ENOTFOUND", "network", "host not found"],
    ["ECONNRESET", "network", "connection reset"],
    ["ETIMEDOUT", "timeout", "timed out"],
    ["EHOSTUNREACH", "network", "unreachable"],
  ] as const)("%s → %s", (code, kind, text) => {
    const err = toRemoteError(systemError(code), "PROPFIND", URL);
    expect(err.kind).toBe(kind);
    expect(err.status).toBeUndefined();
    expect(err.message).toMatch(/^WebDAV PROPFIND \S+ failed: /);
    expect(err.message).toContain(text);
  });

  it("finds a system code nested in cause (undici style)", () => {
    const err = new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    expect(toRemoteError(err, "GET", URL).kind).toBe("network");
  });

  it("maps TLS errors to kind tls, saying what is wrong with the certificate and giving its code", () => {
    const err = toRemoteError(systemError("DEPTH_ZERO_SELF_SIGNED_CERT"), "GET", URL);
    expect(err.kind).toBe("tls");
    expect(err.message).toContain("the server's certificate does not verify: it is self-signed (DEPTH_ZERO_SELF_SIGNED_CERT)");
    expect(toRemoteError(systemError("ERR_TLS_CERT_ALTNAME_INVALID"), "GET", URL).message).toContain("issued for another host name");
    expect(toRemoteError(systemError("ERR_SSL_DECRYPTION_FAILED"), "GET", URL).message).toContain("TLS handshake with 127.0.0.1:8080 failed (ERR_SSL_DECRYPTION_FAILED)");
  });

  it("maps AbortError (node-fetch) and TimeoutError (AbortSignal.timeout) to timeout", () => {
    const abort = Object.assign(new Error("The operation was aborted."), { name: "AbortError", type: "aborted" });
    expect(toRemoteError(abort, "GET", URL).kind).toBe("timeout");
    expect(toRemoteError(new DOMException("timed out", "TimeoutError"), "GET", URL).kind).toBe("timeout");
  });

  it("maps anything else (unparseable XML) to protocol", () => {
    const err = toRemoteError(new Error("Invalid response: No root multistatus found"), "PROPFIND", URL);
    expect(err.kind).toBe("protocol");
    expect(err.message).toBe(`WebDAV PROPFIND ${URL} failed: unexpected answer from the server: Invalid response: No root multistatus found.`);
  });

  it("keeps the original error as cause and passes RemoteErrors through", () => {
    const original = systemError("ECONNREFUSED");
    const mapped = toRemoteError(original, "GET", URL);
    expect(mapped.cause).toBe(original);
    expect(toRemoteError(mapped, "PUT", "http://other")).toBe(mapped);
  });
});

describe("credentials never appear", () => {
  it("strips user:password from the URL and from messages", () => {
    const err = toRemoteError(clientError(500, "Oops"), "GET", "https://me:s3cret@dav.example.com/syncd/x");
    expect(err.url).toBe("https://dav.example.com/syncd/x");
    expect(err.message).not.toContain("s3cret");
    const proto = toRemoteError(new Error("bad answer from http://me:s3cret@h/x"), "GET", "http://h/x");
    expect(proto.message).not.toContain("s3cret");
    expect(redactUrl("http://a:b@h/p and https://c@h2/q")).toBe("http://h/p and https://h2/q");
  });
});

describe("isRemoteError", () => {
  it("checks the class and, optionally, the kind", () => {
    const err = toRemoteError(clientError(404, "Not Found"), "GET", URL);
    expect(isRemoteError(err)).toBe(true);
    expect(isRemoteError(err, "not-found")).toBe(true);
    expect(isRemoteError(err, "auth")).toBe(false);
    expect(isRemoteError(new Error("x"))).toBe(false);
    expect(isRemoteError(undefined)).toBe(false);
  });
});
