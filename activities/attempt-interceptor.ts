// Wraps every activity attempt a worker runs: its attempt record exists from its first moment
// to its last (attempt-records.ts), the processes it spawns join the record, and it owns the
// attempt's one heartbeat (heartbeat.ts): the activity records its progress, this sends it.
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { Logger } from 'pino';
import { openRecord, recordsDir, runInAttempt, type AttemptScope, type OpenRecord } from './attempt-records';
import { attemptHeartbeat, DEFAULT_HEARTBEAT, type HeartbeatTiming } from './heartbeat';

export interface AttemptInterceptorOptions {
  stateDir: string;
  logger: Logger;
  heartbeat?: Partial<HeartbeatTiming>;
}

export function attemptInterceptor(options: AttemptInterceptorOptions): ActivityInterceptorsFactory {
  const dir = recordsDir(options.stateDir);
  const timing: HeartbeatTiming = { ...DEFAULT_HEARTBEAT, ...options.heartbeat };
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
        // A retry repeats the previous attempt's checkpoint until it reports its own.
        const heartbeat = attemptHeartbeat((details) => ctx.heartbeat(details), timing, info.heartbeatDetails);
        const attempt: AttemptScope = {
          addGroup(pgid) {
            try {
              record?.addGroup(pgid);
            } catch (err) {
              logger.warn({ err: (err as Error).message, pgid }, 'cannot add a process group to the attempt record');
            }
          },
          progress: (details) => heartbeat.record(details),
        };
        let failed = true;
        try {
          const result = await runInAttempt(attempt, () => next(input));
          failed = false;
          return result;
        } finally {
          // A cancelled attempt has no retry to tell.
          heartbeat.stop(failed && !ctx.cancellationSignal.aborted);
          record?.close();
        }
      },
    },
  });
}
