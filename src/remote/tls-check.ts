/**
 * Whether a server's port speaks TLS, to explain a failure of an http:// URL that names an https port
 * (webdav-remote.ts). Only a handshake is attempted and nothing is sent over it, so the certificate is not
 * checked: the question is what protocol the port speaks, not whether to trust it.
 */
import { isIP } from "node:net";
import { connect } from "node:tls";

export function speaksTls(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, rejectUnauthorized: false, ...(isIP(host) ? {} : { servername: host }) });
    const timer = setTimeout(() => done(false), timeoutMs);
    timer.unref();
    function done(answer: boolean): void {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    }
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
    socket.once("close", () => done(false));
  });
}
