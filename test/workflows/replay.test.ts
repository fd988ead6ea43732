// Saved histories of real builds (test/workflows/histories/, written by engine.test.ts with
// SBORKA_WRITE_HISTORIES=1) must replay against the current workflow code: a change that
// alters the commands of a running build without patched() fails here.
import { Worker } from '@temporalio/worker';
import { quietRuntime, workflowBundle } from '../helpers/temporal-env';
import { loadHistories } from './histories';

it('replays every saved BuildProduct and BuildVariant history', async () => {
  quietRuntime();
  const histories = loadHistories();
  const types = new Set(histories.map((h) => h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
  expect(types).toEqual(new Set(['BuildProduct', 'BuildVariant']));
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
    replayed += 1;
    if (r.error) failures.push(`${r.workflowId}: ${String(r.error)}`);
  }
  expect(failures).toEqual([]);
  expect(replayed).toBe(histories.length);
}, 120_000);
