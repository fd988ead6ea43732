// Step logs: the list, a tail (or a byte range), and a live follow over server-sent events.
// A log is served only from the configured log directory, whatever path a status names.
import * as fs from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { buildView, planOfBuild, variantWorkflowId } from '../../builds';
import { inside } from '../artifacts';
import { BuildId, visibleBuild } from '../build-access';
import type { ApiDeps } from '../deps';
import { notFound, route, type Principal } from '../http';
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
  const loggedStep = async (p: z.infer<typeof StepParams>) => {
    const view = await buildView(client, p.id);
    const step = view.variants.find((v) => v.variantId === p.variant)?.steps.find((s) => s.id === p.step);
    if (!step) throw notFound(`no step "${p.step}" in variant "${p.variant}" of build "${p.id}"`);
    const file = step.logPath ? inside(config.logDir, step.logPath) : undefined;
    return { step, file };
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
      return { file: undefined, started: false };
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
    return {
      logs: view.variants.flatMap((v) =>
        v.steps.map((s) => {
          const file = s.logPath ? inside(config.logDir, s.logPath) : undefined;
          return {
            variantId: v.variantId,
            step: s.id,
            state: s.state,
            size: file ? fs.statSync(file).size : 0,
            url: `/api/builds/${encodeURIComponent(params.id)}/logs/${encodeURIComponent(v.variantId)}/${encodeURIComponent(s.id)}`,
          };
        }),
      ),
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
    const { file } = await stepLog(principal, params);
    const size = file ? fs.statSync(file).size : 0;
    let start = query.offset ?? Math.max(0, size - MAX_READ);
    start = Math.min(start, size);
    const text = file && size > start ? readRange(file, start, Math.min(size, start + MAX_READ)) : '';
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
    let { file, started } = await plannedStepLog(principal, params);
    const variant = client.workflow.getHandle(variantWorkflowId(params.id, params.variant));
    const sse = openSse(req, reply);
    let offset = query.offset;
    let lastCheck = 0;
    let finished = false;
    try {
      while (!sse.closed) {
        if (!file && Date.now() - lastCheck > 1000) ({ file, started } = await plannedStepLog(principal, params));
        if (file) {
          const size = fs.statSync(file).size;
          while (size > offset && !sse.closed) {
            const end = Math.min(size, offset + 64 * 1024);
            sse.send('log', { offset, text: readRange(file, offset, end) });
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
        await sse.sleep(300);
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

function readRange(file: string, start: number, end: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(end - start);
    const n = fs.readSync(fd, buf, 0, buf.length, start);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
