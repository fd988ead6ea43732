// Runs an activity function the way a worker does: inside the attempt interceptor, which
// keeps its attempt record and owns its heartbeat (activities/attempt-interceptor.ts).
import type { MockActivityEnvironment } from '@temporalio/testing';
import { attemptInterceptor } from '../../activities/attempt-interceptor';
import type { HeartbeatTiming } from '../../activities/heartbeat';
import { silentLogger } from './helpers';

export function runInAttemptEnv<T>(env: MockActivityEnvironment, stateDir: string, fn: () => Promise<T>, heartbeat?: Partial<HeartbeatTiming>): Promise<T> {
  const inbound = attemptInterceptor({ stateDir, logger: silentLogger, heartbeat })(env.context).inbound!;
  return env.run(() => inbound.execute!({ args: [], headers: {} }, fn) as Promise<T>);
}
