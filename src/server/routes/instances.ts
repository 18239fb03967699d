/**
 * Who shares the library, and how another machine joins it (SPEC §6): `GET /api/v1/instances` and
 * `GET /api/v1/invite`, the second being what `syncd invite` prints, without the secret. The token stays
 * on the machines that have it: a page or a client that can call this API already holds it, and the
 * answer says where it is kept (server.token) instead of repeating it.
 */
import { Hono } from "hono";
import { buildInvite, type Invite } from "../../cli/commands/invite.js";
import type { Config } from "../../config/schema.js";
import { SyncdError } from "../../errors.js";
import type { AppEnv } from "../app.js";
import { DAV_PATH } from "../http-server.js";
import { listInstances } from "../instances.js";

export type PublicInvite = Omit<Invite, "token">;

/** The daemon's invitation (cli/commands/invite.ts buildInvite with its own config); throws a UsageError when there is none. */
export type InviteFn = () => Invite;

/**
 * The running daemon's invitation: with server.port 0 the port it listens on now (the other machine can
 * use it until this daemon restarts, which the warning buildInvite gives says).
 */
export function daemonInvite(config: Config, listeningPort: number): Invite {
  if (config.server.port !== 0) return buildInvite(config, DAV_PATH);
  const invite = buildInvite({ ...config, server: { ...config.server, port: listeningPort } }, DAV_PATH);
  invite.warnings.push("server.port is 0, a new port at every start: set a fixed one, or the URL above will not last.");
  return invite;
}

export function instanceRoutes(): Hono<AppEnv> {
  const r = new Hono<AppEnv>();
  r.get("/instances", (c) => c.json(listInstances(c.get("deps").library)));

  r.get("/invite", (c) => {
    const { invite } = c.get("deps");
    if (!invite) return c.json({ available: false, reason: "This daemon was started without its configuration file; run syncd invite on this machine." });
    try {
      const { token: _secret, ...rest } = invite();
      const open: PublicInvite = rest;
      return c.json({ available: true, ...open });
    } catch (err) {
      // No embedded share, or no token: the reason is a sentence for the user.
      if (err instanceof SyncdError) return c.json({ available: false, reason: err.message });
      throw err;
    }
  });
  return r;
}
