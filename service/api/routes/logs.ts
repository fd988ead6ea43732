// Step logs: the list, a tail (or a byte range), and a live follow over server-sent events.
// A log is found by its build, variant and step ids, never by the path a status names: in
// this host's log directory, or in the remote store when another host wrote it
// (activities/log-read.ts). Only steps of a build the caller may see have one.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { openStepLog, type LogSource } from '../../../activities/log-read';
import { buildView, planOfBuild, variantWorkflowId } from '../../builds';
import { BuildId, visibleBuild } from '../build-access';
import type { ApiDeps } from '../deps';
import { ApiError, notFound, route, type Principal } from '../http';
import { openSse } from '../sse';

const StepParams = z.object({ id: BuildId, variant: z.string().min(1).max(300), step: z.string().min(1).max(200) });
const MAX_READ = 1024 * 1024;

export function logRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client, config } = deps;
  const buildRunning = async (id: string) =>
    (await client.workflow.getHandle(id).describe().catch(() => undefined))?.status.name === 'RUNNING';

  const stepLog = async (principal: Principal, p: z.infer<typeof StepParams>) => {
    await visibleBuild(client, principal, p.id);
    return loggedStep(p);
  };
  /** The build owner's namespace in the store, asked only when the store is read. */
  const tenantOf = (buildId: string) => {
    let owner: Promise<string | undefined> | undefined;
    return () => (owner ??= planOfBuild(client, buildId).then((plan) => (plan.owner.kind === 'partner' ? plan.owner.name : undefined)));
  };
  const openLog = async (buildId: string, variantId: string, stepId: string, tenant = tenantOf(buildId)): Promise<LogSource | undefined> => {
    try {
      return await openStepLog(config, { buildId, variantId, stepId }, tenant);
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(502, 'bad_gateway', `the log of ${variantId}/${stepId} is not on this host and the store did not give it: ${(e as Error).message}`);
    }
  };
  const loggedStep = async (p: z.infer<typeof StepParams>) => {
    const view = await buildView(client, p.id);
    const step = view.variants.find((v) => v.variantId === p.variant)?.steps.find((s) => s.id === p.step);
    if (!step) throw notFound(`no step "${p.step}" in variant "${p.variant}" of build "${p.id}"`);
    return { step, log: await openLog(p.id, p.variant, p.step) };
  };

  /**
   * Like stepLog, but a step the build's plan holds whose variant has not started yet
   * (a follow right after the build was posted) is no 404: it has no log so far.
   */
  const plannedStepLog = async (principal: Principal, p: z.infer<typeof StepParams>) => {
    await visibleBuild(client, principal, p.id);
    try {
      return { ...(await loggedStep(p)), started: true };
    } catch (e) {
      const plan = await planOfBuild(client, p.id);
      const planned = plan.variants.find((v) => v.id === p.variant)?.steps.some((s) => s.id === p.step);
      if (!planned) throw e;
      return { log: undefined, started: false };
    }
  };

  route(app, {
    method: 'GET', url: '/api/builds/:id/logs', summary: 'every step\'s log: state and size', tags: ['logs'],
    params: z.object({ id: BuildId }),
    response: {
      description: 'logs',
      schema: z.object({ logs: z.array(z.object({ variantId: z.string(), step: z.string(), state: z.string(), size: z.number().int(), url: z.string() })) }),
    },
    names: { response: 'LogList' },
  }, async ({ principal, params }) => {
    await visibleBuild(client, principal, params.id);
    const view = await buildView(client, params.id);
    const tenant = tenantOf(params.id);
    const steps = view.variants.flatMap((v) => v.steps.map((s) => ({ v, s })));
    // A log the store cannot give now is listed as empty rather than failing the list.
    const sizes = await Promise.all(steps.map(({ v, s }) => (s.logPath ? openLog(params.id, v.variantId, s.id, tenant).then((l) => l?.size ?? 0, () => 0) : 0)));
    return {
      logs: steps.map(({ v, s }, i) => ({
        variantId: v.variantId,
        step: s.id,
        state: s.state,
        size: sizes[i]!,
        url: `/api/builds/${encodeURIComponent(params.id)}/logs/${encodeURIComponent(v.variantId)}/${encodeURIComponent(s.id)}`,
      })),
    };
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id/logs/:variant/:step', summary: 'a step\'s log as text: the last `tail` lines, or the bytes from `offset` (1 MiB at most)', tags: ['logs'],
    params: StepParams,
    query: z.object({
      tail: z.coerce.number().int().min(1).max(100_000).optional(),
      offset: z.coerce.number().int().min(0).optional(),
    }),
    response: { description: 'text; X-Log-Size is the whole log\'s size, X-Log-Offset where this part starts', contentType: 'text/plain' },
  }, async ({ principal, params, query, reply }) => {
    const { log } = await stepLog(principal, params);
    const size = log?.size ?? 0;
    let start = query.offset ?? Math.max(0, size - MAX_READ);
    start = Math.min(start, size);
    const text = log && size > start ? await readText(log, start, Math.min(size, start + MAX_READ)) : '';
    let out = text;
    if (query.tail !== undefined && query.offset === undefined) {
      const lines = text.split('\n');
      if (lines.at(-1) === '') lines.pop();
      const kept = lines.slice(-query.tail);
      out = kept.length ? `${kept.join('\n')}\n` : '';
      start = size - Buffer.byteLength(out);
    }
    reply.header('content-type', 'text/plain; charset=utf-8').header('x-log-size', String(size)).header('x-log-offset', String(start));
    return out;
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id/logs/:variant/:step/follow',
    summary: 'follow a step\'s log (server-sent events): "log" {offset, text} as it grows, "end" when its variant has finished', tags: ['logs'],
    params: StepParams,
    query: z.object({ offset: z.coerce.number().int().min(0).default(0) }),
    response: { description: 'text/event-stream', contentType: 'text/event-stream' },
  }, async ({ principal, params, query, req, reply }) => {
    let { log, started } = await plannedStepLog(principal, params);
    const tenant = tenantOf(params.id);
    const variant = client.workflow.getHandle(variantWorkflowId(params.id, params.variant));
    const sse = openSse(req, reply);
    let offset = query.offset;
    let lastCheck = 0;
    let finished = false;
    try {
      while (!sse.closed) {
        // Looked for again each round: it grows, or moves from this disk to the store's longer copy.
        if (started) log = await openLog(params.id, params.variant, params.step, tenant);
        else if (Date.now() - lastCheck > 1000) ({ log, started } = await plannedStepLog(principal, params));
        if (log) {
          const size = log.size;
          while (size > offset && !sse.closed) {
            const end = Math.min(size, offset + 64 * 1024);
            sse.send('log', { offset, text: await readText(log, offset, end) });
            offset = end;
          }
        }
        if (finished) break;
        if (Date.now() - lastCheck > 1000) {
          lastCheck = Date.now();
          // Read once more after the variant closed: the last lines may land meanwhile.
          const status = (await variant.describe().catch(() => undefined))?.status.name;
          // A variant not started yet is not finished, unless its build has closed meanwhile.
          finished = status === undefined && !started ? !(await buildRunning(params.id)) : status !== 'RUNNING';
          if (finished) continue;
        }
        // The store is asked less often than the disk.
        await sse.sleep(log?.where === 'store' || (!log && config.remoteStore) ? 1000 : 300);
      }
      sse.send('end', { offset });
    } catch (e) {
      sse.send('error', { message: (e as Error).message });
    } finally {
      sse.end();
    }
    return reply;
  });
}

async function readText(log: LogSource, start: number, end: number): Promise<string> {
  return (await log.read(start, end)).toString('utf8');
}
