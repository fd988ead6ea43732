// Schemas both the BuildPlan (plan.ts) and the step params use: names, arches, owners,
// schedules. Kept apart from plan.ts because plan.ts imports the step params.
import { z } from 'zod';

/** Names that end up in file names, task queues and workflow ids. */
export const Name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._+-]{0,127}$/, 'must be lower-case letters, digits and . _ + - (starting with a letter or digit)');

export const Arch = z.enum([
  'x86_64', 'i586', 'aarch64', 'armh', 'ppc64le', 'riscv64', 'loongarch64', 'e2kv4', 'e2kv5', 'e2kv6',
]);

export const Owner = z.union([
  z.object({ kind: z.literal('community') }),
  z.object({ kind: z.literal('maintainer'), team: Name }),
  z.object({ kind: z.literal('partner'), name: Name }),
]);

export const Schedule = z.object({
  cron: z.string().min(1),
  timezone: z.string().default('UTC'),
});

