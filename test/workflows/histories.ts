// Saved workflow histories for the replay test. The engine test writes them when
// SBORKA_WRITE_HISTORIES=1 (regenerate: SBORKA_WRITE_HISTORIES=1 npx jest test/workflows/engine.test.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';
import type { temporal } from '@temporalio/proto';

export const HISTORY_DIR = path.join(__dirname, 'histories');
export const WRITE_HISTORIES = process.env.SBORKA_WRITE_HISTORIES === '1';

type History = temporal.api.history.v1.IHistory;

// The SDK's historyToJSON/historyFromJSON fail here ("type must be a Type"): npm installed
// @temporalio/common and @temporalio/proto with two copies of protobufjs, and each copy's
// instanceof check rejects the other's types. Using the copy @temporalio/proto was built
// with gives the same proto3 JSON format (the one `temporal workflow show -o json` writes).
interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): History | null;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const protojson = require(
  require.resolve('protobufjs/ext/protojson', { paths: [path.dirname(require.resolve('@temporalio/proto'))] }),
) as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType(
  'temporal.api.history.v1.History',
);

function historyToJSON(history: History): string {
  return JSON.stringify(protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)), null, 2);
}

function historyFromJSON(json: unknown): History {
  const history = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!history) throw new Error('not a workflow history');
  return history;
}

/** gRPC's status code for a workflow the server does not know. */
const GRPC_NOT_FOUND = 5;

/**
 * The histories of the runs that exist. A child whose parent was cancelled before the child
 * started never existed: there is nothing of it to replay.
 */
export async function fetchHistories(client: Client, workflowIds: readonly string[]): Promise<{ workflowId: string; history: History }[]> {
  const found = await Promise.all(
    workflowIds.map(async (workflowId) => {
      try {
        return [{ workflowId, history: await client.workflow.getHandle(workflowId).fetchHistory() }];
      } catch (e) {
        if ((e as { code?: number }).code === GRPC_NOT_FOUND || (e as { cause?: { code?: number } }).cause?.code === GRPC_NOT_FOUND) return [];
        throw e;
      }
    }),
  );
  return found.flat();
}

export function saveHistories(histories: readonly { workflowId: string; history: History }[]): void {
  fs.mkdirSync(HISTORY_DIR, { recursive: true });
  for (const { workflowId, history } of histories) {
    fs.writeFileSync(path.join(HISTORY_DIR, `${workflowId}.json`), `${historyToJSON(history)}\n`);
  }
}

export function loadHistories(): { workflowId: string; history: History }[] {
  if (!fs.existsSync(HISTORY_DIR)) return [];
  return fs
    .readdirSync(HISTORY_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => ({
      workflowId: f.slice(0, -'.json'.length),
      history: historyFromJSON(JSON.parse(fs.readFileSync(path.join(HISTORY_DIR, f), 'utf8'))),
    }));
}
