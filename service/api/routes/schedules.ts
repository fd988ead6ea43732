// Nightly schedules: list (each role sees the schedules of products it may see), pause,
// unpause and trigger now (the distribution's people).
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ownerLabel } from '../../../workflows/search-values';
import { NightRecord, recentNights, waitingNotices } from '../../schedule-nights';
import { listSchedules, SCHEDULE_PREFIX, triggerNightly } from '../../schedules';
import type { ApiDeps } from '../deps';
import { forbidden, notFound, route } from '../http';
import { canManageSchedules, canSee } from '../roles';

const Schedule = z.object({
  scheduleId: z.string(),
  product: z.string(),
  owner: z.string(),
  cron: z.string(),
  paused: z.boolean(),
  note: z.string().optional(),
  nextRun: z.string().optional(),
  lastRun: z.string().optional(),
  /** The last week's nights: state, what each waited for, who was notified. */
  nights: z.array(NightRecord),
});
const ScheduleParams = z.object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,250}$/) });

async function ownerOf(client: Client, scheduleId: string): Promise<{ owner: string; paused: boolean; note?: string } | undefined> {
  try {
    const d = await client.schedule.getHandle(scheduleId).describe();
    const args = d.action.type === 'startWorkflow' ? (d.action.args as Array<{ plan?: { owner?: { kind: 'community' } } }> | undefined) : undefined;
    const owner = args?.[0]?.plan?.owner;
    // describe() is read from the schedule itself; the list lags behind a pause for a moment.
    return { owner: owner ? ownerLabel(owner) : 'community', paused: d.state.paused, note: d.state.note };
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return undefined;
    throw e;
  }
}

export function scheduleRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client } = deps;

  route(app, {
    method: 'GET', url: '/api/schedules', summary: 'nightly schedules of the products the token may see', tags: ['schedules'],
    response: { description: 'schedules', schema: z.object({ schedules: z.array(Schedule) }) }, names: { response: 'ScheduleList' },
  }, async ({ principal }) => {
    const out: z.infer<typeof Schedule>[] = [];
    for (const s of await listSchedules(client)) {
      const o = await ownerOf(client, s.scheduleId);
      if (!o || !canSee(principal.role, o.owner)) continue;
      out.push({
        scheduleId: s.scheduleId, product: s.product, owner: o.owner, cron: s.cron, paused: o.paused,
        ...(s.nextRun ? { nextRun: s.nextRun.toISOString() } : {}),
        ...(s.lastRun ? { lastRun: s.lastRun } : {}),
        nights: await recentNights(client, s.product, s.timezone, (id) => waitingNotices(deps.db, id)),
      });
    }
    return { schedules: out };
  });

  const visible = async (role: string, id: string) => {
    const o = id.startsWith(SCHEDULE_PREFIX) ? await ownerOf(client, id) : undefined;
    if (!o || !canSee(role, o.owner)) throw notFound(`no schedule "${id}"`);
    if (!canManageSchedules(role)) throw forbidden('only admins and maintainers steer schedules');
    return client.schedule.getHandle(id);
  };

  route(app, {
    method: 'POST', url: '/api/schedules/:id/pause', summary: 'pause a nightly schedule', tags: ['schedules'],
    params: ScheduleParams, body: z.object({ note: z.string().max(500).optional() }),
    response: { description: 'paused', schema: z.object({ scheduleId: z.string(), paused: z.boolean() }) }, names: { response: 'SchedulePaused' },
  }, async ({ principal, params, body, req }) => {
    req.auditTarget = params.id;
    await (await visible(principal.role, params.id)).pause(`${body.note ?? 'paused'} (by ${principal.name})`);
    return { scheduleId: params.id, paused: true };
  });

  route(app, {
    method: 'POST', url: '/api/schedules/:id/unpause', summary: 'resume a paused nightly schedule', tags: ['schedules'],
    params: ScheduleParams, body: z.object({ note: z.string().max(500).optional() }),
    response: { description: 'active', schema: z.object({ scheduleId: z.string(), paused: z.boolean() }) }, names: { response: 'SchedulePaused' },
  }, async ({ principal, params, body, req }) => {
    req.auditTarget = params.id;
    await (await visible(principal.role, params.id)).unpause(`${body.note ?? 'unpaused'} (by ${principal.name})`);
    return { scheduleId: params.id, paused: false };
  });

  route(app, {
    method: 'POST', url: '/api/schedules/:id/trigger', summary: 'start the nightly build now (nothing starts when tonight has a build or an earlier nightly still runs)', tags: ['schedules'],
    params: ScheduleParams, body: z.object({}).optional(),
    response: { description: 'triggered, or why nothing started', schema: z.object({ scheduleId: z.string(), triggered: z.boolean(), reason: z.string().optional() }) },
  }, async ({ principal, params, req }) => {
    req.auditTarget = params.id;
    await visible(principal.role, params.id);
    // Tonight already built (or building), or an earlier nightly really runs: nothing starts.
    const outcome = await triggerNightly(client, params.id.slice(SCHEDULE_PREFIX.length));
    return { scheduleId: params.id, triggered: outcome.triggered, ...(outcome.reason ? { reason: outcome.reason } : {}) };
  });
}
