// `event_store.client.users.Users` over the server's users (server/users.ts), shared with the
// HTTP API: the same streams, password hashing and rules (administrators manage users; a user
// may read its own details and change its own password).
import { AccessDeniedError, isAdmin } from '../../store/acl.js';
import { InvalidArgumentError } from '../../store/errors.js';
import type { UserDetails } from '../users.js';
import { principalOf, requireAdmin, requireAuthenticated, toGrpcFailure, unary, type GrpcContext } from './call-context.js';
import { CallWriter } from './call-writer.js';
import type { ServiceImplementation } from './grpc-server.js';
import type { ServerCall } from './server-call.js';
import { usersPb } from './protocol.js';
import { ticksOf } from './wire.js';

type DetailsReq = InstanceType<typeof usersPb.DetailsReq>;
type DetailsResp = InstanceType<typeof usersPb.DetailsResp>;

function detailsMessage(user: UserDetails): DetailsResp {
  const details = new usersPb.DetailsResp.UserDetails();
  details.setLoginName(user.loginName);
  details.setFullName(user.fullName);
  details.setGroupsList([...user.groups]);
  details.setDisabled(user.disabled);
  const updated = new usersPb.DetailsResp.UserDetails.DateTime();
  updated.setTicksSinceEpoch(ticksOf(new Date(user.dateLastUpdated)));
  details.setLastUpdated(updated);
  const resp = new usersPb.DetailsResp();
  resp.setUserDetails(details);
  return resp;
}

function optionsOf<T>(request: { getOptions(): T | undefined }, what: string): T {
  const options = request.getOptions();
  if (options === undefined) throw new InvalidArgumentError(`${what} needs options`);
  return options;
}

export function usersService(ctx: GrpcContext): ServiceImplementation {
  const { users } = ctx;
  return {
    create: unary(ctx, async (request: InstanceType<typeof usersPb.CreateReq>, principal) => {
      const o = optionsOf(request, 'CreateReq');
      requireAdmin(principal, 'create users on');
      await users.create({ loginName: o.getLoginName(), password: o.getPassword(), fullName: o.getFullName(), groups: o.getGroupsList() });
      return new usersPb.CreateResp();
    }),
    update: unary(ctx, async (request: InstanceType<typeof usersPb.UpdateReq>, principal) => {
      const o = optionsOf(request, 'UpdateReq');
      requireAdmin(principal, 'update users on');
      await users.update(o.getLoginName(), { fullName: o.getFullName(), groups: o.getGroupsList() });
      if (o.getPassword() !== '') await users.resetPassword(o.getLoginName(), o.getPassword());
      return new usersPb.UpdateResp();
    }),
    delete: unary(ctx, async (request: InstanceType<typeof usersPb.DeleteReq>, principal) => {
      const o = optionsOf(request, 'DeleteReq');
      requireAdmin(principal, 'delete users on');
      await users.delete(o.getLoginName());
      return new usersPb.DeleteResp();
    }),
    enable: unary(ctx, async (request: InstanceType<typeof usersPb.EnableReq>, principal) => {
      const o = optionsOf(request, 'EnableReq');
      requireAdmin(principal, 'enable users on');
      await users.setDisabled(o.getLoginName(), false);
      return new usersPb.EnableResp();
    }),
    disable: unary(ctx, async (request: InstanceType<typeof usersPb.DisableReq>, principal) => {
      const o = optionsOf(request, 'DisableReq');
      requireAdmin(principal, 'disable users on');
      await users.setDisabled(o.getLoginName(), true);
      return new usersPb.DisableResp();
    }),
    details: (call: ServerCall<DetailsReq, DetailsResp>) => {
      const writer = new CallWriter<DetailsResp>(call);
      (async () => {
        const principal = await principalOf(ctx, call);
        requireAuthenticated(principal);
        const login = call.request.getOptions()?.getLoginName() ?? '';
        if (login === '') {
          requireAdmin(principal, 'list users of');
          for (const user of await users.list()) if (!(await writer.write(detailsMessage(user)))) return;
        } else {
          if (login !== principal.name && !isAdmin(principal)) throw new AccessDeniedError(principal.name, 'read the details of', `user '${login}'`);
          await writer.write(detailsMessage(await users.get(login)));
        }
        call.end();
      })().catch((e: unknown) => {
        call.fail(toGrpcFailure(e, ctx.log));
      });
    },
    changePassword: unary(ctx, async (request: InstanceType<typeof usersPb.ChangePasswordReq>, principal) => {
      const o = optionsOf(request, 'ChangePasswordReq');
      requireAuthenticated(principal);
      if (o.getLoginName() !== principal.name && !isAdmin(principal)) throw new AccessDeniedError(principal.name, 'change the password of', `user '${o.getLoginName()}'`);
      await users.changePassword(o.getLoginName(), o.getCurrentPassword(), o.getNewPassword());
      return new usersPb.ChangePasswordResp();
    }),
    resetPassword: unary(ctx, async (request: InstanceType<typeof usersPb.ResetPasswordReq>, principal) => {
      const o = optionsOf(request, 'ResetPasswordReq');
      requireAdmin(principal, 'reset passwords on');
      await users.resetPassword(o.getLoginName(), o.getNewPassword());
      return new usersPb.ResetPasswordResp();
    }),
  };
}
