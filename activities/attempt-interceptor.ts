// Wraps every activity attempt a worker runs: its attempt record exists from its first moment
// to its last (attempt-records.ts), the processes it spawns join the record, and it heartbeats
// every few seconds after its first moments, repeating the latest details the activity sent, so a
// step that is quiet (a cache lookup verifying a large input, qemu waiting for its guest) is
// not taken for dead under a short heartbeat timeout.
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from 'pino';
import { openRecord, recordsDir, runInAttempt, type AttemptScope, type OpenRecord } from './attempt-records';

export interface AttemptInterceptorOptions {
  stateDir: string;
  logger: Logger;
  /** Repeat the latest heartbeat after this long without one. */
  keepAliveMs?: number;
}

export function attemptInterceptor(options: AttemptInterceptorOptions): ActivityInterceptorsFactory {
  const dir = recordsDir(options.stateDir);
  const keepAliveMs = options.keepAliveMs ?? 3000;
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const { info } = ctx;
        const workflowId = info.workflowExecution?.workflowId ?? '';
        let record: OpenRecord | undefined;
        const logger = options.logger.child({ activityId: info.activityId, workflowId, attempt: info.attempt });
        try {
          record = openRecord(dir, {
            taskToken: Buffer.from(info.taskToken).toString('base64'),
            workflowId,
            activityId: info.activityId,
            activityType: info.activityType,
            attempt: info.attempt,
          });
        } catch (err) {
          // Without its record the attempt still runs; a kill then costs the heartbeat timeout.
          logger.warn({ err: (err as Error).message }, 'cannot write the attempt record');
        }
        const attempt: AttemptScope = {
          addGroup(pgid) {
            try {
              record?.addGroup(pgid);
            } catch (err) {
              logger.warn({ err: (err as Error).message, pgid }, 'cannot add a process group to the attempt record');
            }
          },
          // A retry keeps the previous attempt's checkpoint until it reports its own.
          lastHeartbeat: { details: info.heartbeatDetails, at: Date.now() },
        };
        const beat = () => {
          attempt.lastHeartbeat.at = Date.now();
          ctx.heartbeat(attempt.lastHeartbeat.details);
        };
        // Nothing at once: a step that ends within keepAliveMs costs the server no heartbeat (quiet-start.ts).
        const timer = setInterval(() => {
          if (Date.now() - attempt.lastHeartbeat.at >= keepAliveMs) beat();
        }, Math.max(250, Math.floor(keepAliveMs / 3)));
        try {
          return await runInAttempt(attempt, () => next(input));
        } finally {
          clearInterval(timer);
          record?.close();
        }
      },
    },
  });
}
