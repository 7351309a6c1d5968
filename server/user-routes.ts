// User management at Event Store's URLs (`/users`, `/users/{login}`, `/users/{login}/command/…`),
// answering in its `{ data, success }` envelope. Only `$admins` manage users; anyone signed in
// may read themselves and change their own password.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdmin, AccessDeniedError } from '../store/acl.js';
import { badRequest } from './http-error.js';
import { baseUrl, requireAdmin, requireAuthenticated, sendJson, type ServerContext } from './server-context.js';
import { assertLoginName, type NewUser, type UserDetails } from './users.js';

type Params = Record<string, string | undefined>;

function body(req: FastifyRequest): Record<string, unknown> {
  if (req.body === null || typeof req.body !== 'object' || Array.isArray(req.body)) throw badRequest('The request body must be a JSON object');
  return req.body as Record<string, unknown>;
}

export function registerUserRoutes(app: FastifyInstance, ctx: ServerContext, options: { insecure: boolean }): void {
  const { users } = ctx;

  function shown(req: FastifyRequest, user: UserDetails): Record<string, unknown> {
    const url = `${baseUrl(ctx, req)}/users/${encodeURIComponent(user.loginName)}`;
    return {
      ...user,
      links: [
        { href: url, rel: 'edit' },
        { href: `${url}/command/reset-password`, rel: 'reset-password' },
        { href: `${url}/command/change-password`, rel: 'change-password' },
        { href: `${url}/command/${user.disabled ? 'enable' : 'disable'}`, rel: user.disabled ? 'enable' : 'disable' },
      ],
    };
  }

  function login(req: FastifyRequest): string {
    const name = (req.params as Params).login;
    assertLoginName(name);
    return name;
  }

  function selfOrAdmin(req: FastifyRequest, name: string, what: string): void {
    requireAuthenticated(req);
    if (!isAdmin(req.principal) && req.principal.name !== name) throw new AccessDeniedError(req.principal.name, what, `user ${name}`);
  }

  app.get('/users', async (req, reply) => {
    requireAdmin(req, 'list users of');
    const list = await users.list();
    return sendJson(reply, 200, { data: list.map((u) => shown(req, u)), success: true });
  });

  async function current(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    requireAuthenticated(req);
    if (options.insecure) return sendJson(reply, 200, { data: { loginName: req.principal.name, groups: req.principal.groups }, success: true });
    return sendJson(reply, 200, { data: shown(req, await users.get(req.principal.name)), success: true });
  }

  app.get('/users/$current', current);

  app.get('/users/:login', async (req, reply) => {
    // `/users/%24current` arrives here rather than at the static route.
    if ((req.params as Params).login === '$current') return current(req, reply);
    const name = login(req);
    selfOrAdmin(req, name, 'read');
    return sendJson(reply, 200, { data: shown(req, await users.get(name)), success: true });
  });

  app.post('/users', async (req, reply) => {
    requireAdmin(req, 'create users on');
    const created = await users.create(body(req) as unknown as NewUser);
    reply.raw.statusMessage = 'Created';
    return sendJson(reply.header('location', `${baseUrl(ctx, req)}/users/${encodeURIComponent(created.loginName)}`), 201, { loginName: created.loginName, success: true });
  });

  app.put('/users/:login', async (req, reply) => {
    const name = login(req);
    requireAdmin(req, 'update users on');
    const updated = await users.update(name, body(req));
    return sendJson(reply, 200, { data: shown(req, updated), success: true });
  });

  app.delete('/users/:login', async (req, reply) => {
    const name = login(req);
    requireAdmin(req, 'delete users on');
    if (name === req.principal.name) throw badRequest('You cannot delete the user you are signed in as');
    await users.delete(name);
    return sendJson(reply, 200, { loginName: name, success: true });
  });

  for (const [command, disabled] of [['enable', false], ['disable', true]] as const) {
    app.post(`/users/:login/command/${command}`, async (req, reply) => {
      const name = login(req);
      requireAdmin(req, `${command} users on`);
      await users.setDisabled(name, disabled);
      return sendJson(reply, 200, { loginName: name, success: true });
    });
  }

  app.post('/users/:login/command/reset-password', async (req, reply) => {
    const name = login(req);
    requireAdmin(req, 'reset passwords on');
    await users.resetPassword(name, body(req).newPassword);
    return sendJson(reply, 200, { loginName: name, success: true });
  });

  app.post('/users/:login/command/change-password', async (req, reply) => {
    const name = login(req);
    selfOrAdmin(req, name, 'change the password of');
    const b = body(req);
    await users.changePassword(name, b.currentPassword, b.newPassword);
    return sendJson(reply, 200, { loginName: name, success: true });
  });
}
