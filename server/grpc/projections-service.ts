// `event_store.client.projections.Projections` over the projection runtime the server was given
// (engine/projections), with the HTTP API's rules: reading needs a signed-in user, changing
// needs `$ops` or `$admins`. State and result travel as `google.protobuf.Value`.
import { randomUUID } from 'node:crypto';
import type { ProjectionManager, ProjectionStatus } from '../../engine/projections/projection-manager.js';
import { InvalidArgumentError } from '../../store/errors.js';
import { projectionJson } from '../projection-routes.js';
import { principalOf, requireAuthenticated, requireOps, toGrpcFailure, unary, type GrpcContext } from './call-context.js';
import { CallWriter } from './call-writer.js';
import type { ServiceImplementation } from './grpc-server.js';
import type { ServerCall } from './server-call.js';
import { projectionsPb, structPb } from './protocol.js';

type StatisticsReq = InstanceType<typeof projectionsPb.StatisticsReq>;
type StatisticsResp = InstanceType<typeof projectionsPb.StatisticsResp>;

function optionsOf<T>(request: { getOptions(): T | undefined }, what: string): T {
  const options = request.getOptions();
  if (options === undefined) throw new InvalidArgumentError(`${what} needs options`);
  return options;
}

function detailsOf(s: ProjectionStatus): StatisticsResp {
  const json = projectionJson('', s);
  const d = new projectionsPb.StatisticsResp.Details();
  d.setCoreprocessingtime('0');
  d.setVersion(String(s.version));
  d.setEpoch(String(s.epoch));
  d.setEffectivename(s.name);
  d.setWritesinprogress(0);
  d.setReadsinprogress(0);
  d.setPartitionscached(s.partitionsCached);
  d.setStatus(String(json.status));
  d.setStatereason(s.lastError?.message ?? '');
  d.setName(s.name);
  d.setMode(String(json.mode));
  d.setPosition(s.position ?? '');
  d.setProgress(s.status === 'Completed' ? 100 : -1);
  d.setLastcheckpoint(s.position ?? '');
  d.setEventsprocessedafterrestart(String(s.eventsProcessed));
  d.setCheckpointstatus('');
  d.setBufferedevents('0');
  d.setWritependingeventsbeforecheckpoint(0);
  d.setWritependingeventsaftercheckpoint(0);
  const resp = new projectionsPb.StatisticsResp();
  resp.setDetails(d);
  return resp;
}

/** A JSON value as `google.protobuf.Value`; no state yet is `null`. */
function valueOf(value: unknown): InstanceType<typeof structPb.Value> {
  return structPb.Value.fromJavaScript((value === undefined ? null : JSON.parse(JSON.stringify(value))) as Parameters<typeof structPb.Value.fromJavaScript>[0]);
}

export function projectionsService(ctx: GrpcContext, projections: ProjectionManager): ServiceImplementation {
  const Mode = projectionsPb.StatisticsReq.Options.ModeCase;
  return {
    create: unary(ctx, async (request: InstanceType<typeof projectionsPb.CreateReq>, principal) => {
      const o = optionsOf(request, 'CreateReq');
      requireOps(principal, 'create projections on');
      const query = o.getQuery();
      if (o.hasContinuous()) {
        const c = o.getContinuous()!;
        await projections.create(c.getName(), query, { mode: 'continuous', emit: c.getEmitEnabled() });
      } else if (o.hasTransient()) {
        await projections.create(o.getTransient()!.getName(), query, { mode: 'transient' });
      } else {
        await projections.create(`onetime-${randomUUID()}`, query, { mode: 'one-time' });
      }
      return new projectionsPb.CreateResp();
    }),
    update: unary(ctx, async (request: InstanceType<typeof projectionsPb.UpdateReq>, principal) => {
      const o = optionsOf(request, 'UpdateReq');
      requireOps(principal, 'update projections on');
      await projections.update(o.getName(), o.getQuery(), o.hasEmitEnabled() ? { emit: o.getEmitEnabled() } : {});
      return new projectionsPb.UpdateResp();
    }),
    delete: unary(ctx, async (request: InstanceType<typeof projectionsPb.DeleteReq>, principal) => {
      const o = optionsOf(request, 'DeleteReq');
      requireOps(principal, 'delete projections on');
      await projections.delete(o.getName(), { deleteCheckpointStream: o.getDeleteCheckpointStream(), deleteStateStream: o.getDeleteStateStream() });
      return new projectionsPb.DeleteResp();
    }),
    statistics: (call: ServerCall<StatisticsReq, StatisticsResp>) => {
      const writer = new CallWriter<StatisticsResp>(call);
      (async () => {
        const principal = await principalOf(ctx, call);
        requireAuthenticated(principal);
        const o = optionsOf(call.request, 'StatisticsReq');
        let list: ProjectionStatus[];
        switch (o.getModeCase()) {
          case Mode.NAME:
            list = [await projections.statistics(o.getName())];
            break;
          case Mode.CONTINUOUS:
            list = projections.list().filter((s) => s.mode === 'continuous');
            break;
          case Mode.TRANSIENT:
            list = projections.list().filter((s) => s.mode === 'transient');
            break;
          case Mode.ONE_TIME:
            list = projections.list().filter((s) => s.mode === 'one-time');
            break;
          default:
            list = projections.list();
        }
        for (const s of list) if (!(await writer.write(detailsOf(s)))) return;
        call.end();
      })().catch((e: unknown) => {
        call.fail(toGrpcFailure(e, ctx.log));
      });
    },
    disable: unary(ctx, async (request: InstanceType<typeof projectionsPb.DisableReq>, principal) => {
      const o = optionsOf(request, 'DisableReq');
      requireOps(principal, 'disable projections on');
      await projections.disable(o.getName());
      return new projectionsPb.DisableResp();
    }),
    enable: unary(ctx, async (request: InstanceType<typeof projectionsPb.EnableReq>, principal) => {
      const o = optionsOf(request, 'EnableReq');
      requireOps(principal, 'enable projections on');
      await projections.enable(o.getName());
      return new projectionsPb.EnableResp();
    }),
    reset: unary(ctx, async (request: InstanceType<typeof projectionsPb.ResetReq>, principal) => {
      const o = optionsOf(request, 'ResetReq');
      requireOps(principal, 'reset projections on');
      await projections.reset(o.getName());
      return new projectionsPb.ResetResp();
    }),
    state: unary(ctx, async (request: InstanceType<typeof projectionsPb.StateReq>, principal) => {
      const o = optionsOf(request, 'StateReq');
      requireAuthenticated(principal);
      const resp = new projectionsPb.StateResp();
      resp.setState(valueOf(await projections.state(o.getName(), o.getPartition())));
      return resp;
    }),
    result: unary(ctx, async (request: InstanceType<typeof projectionsPb.ResultReq>, principal) => {
      const o = optionsOf(request, 'ResultReq');
      requireAuthenticated(principal);
      const resp = new projectionsPb.ResultResp();
      resp.setResult(valueOf(await projections.result(o.getName(), o.getPartition())));
      return resp;
    }),
  };
}
