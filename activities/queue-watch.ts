// Tells BuildProduct when a task queue last had a worker polling it, so a variant waiting
// on a queue nobody serves (build-e2k with its hosts down) says so instead of looking stuck.
import type { Client } from '@temporalio/client';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { z } from 'zod';

export const QueuePollers = z.object({
  taskQueue: z.string(),
  /** Pollers the server remembers (it forgets them a few minutes after their last poll). */
  workflowPollers: z.number().int().min(0),
  activityPollers: z.number().int().min(0),
  /** Latest poll of any kind, epoch ms; absent when no poller is remembered. */
  lastAccessMs: z.number().optional(),
});
export type QueuePollers = z.infer<typeof QueuePollers>;

const { TaskQueueType, TaskQueueKind } = temporal.api.enums.v1;

export function createQueueWatchActivities(client: Client) {
  return {
    async describeQueue(taskQueue: string): Promise<QueuePollers> {
      const [workflow, activity] = await Promise.all(
        [TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY].map((taskQueueType) =>
          client.workflowService.describeTaskQueue({
            namespace: client.options.namespace,
            taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
            taskQueueType,
          }),
        ),
      );
      const times = [...(workflow?.pollers ?? []), ...(activity?.pollers ?? [])]
        .map((p) => optionalTsToMs(p.lastAccessTime))
        .filter((t): t is number => t !== undefined);
      return {
        taskQueue,
        workflowPollers: workflow?.pollers?.length ?? 0,
        activityPollers: activity?.pollers?.length ?? 0,
        lastAccessMs: times.length > 0 ? Math.max(...times) : undefined,
      };
    },
  };
}
