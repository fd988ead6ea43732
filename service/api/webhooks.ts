// Webhooks, one per owner: POSTed when one of the owner's builds succeeds, fails, is
// cancelled, or a variant starts waiting for an operator. Builds are found by polling
// Temporal's visibility (the service keeps no build state); what was already announced is
// recorded in SQLite, so a restart neither repeats nor loses a notification. Each delivery
// is signed with HMAC-SHA256 and retried with exponential backoff until it is accepted.
// Destinations pass the egress policy (egress.ts) when set and again at every delivery.
import { createHmac, randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { variantStatusQuery } from '../../workflows/api';
import { SA_ARCH, SA_OWNER, SA_PRODUCT, SA_STATE } from '../../workflows/search-attributes';
import { VariantStatus } from '../../workflows/status';
import { BUILD_PRODUCT } from '../builds';
import type { Db } from './db';
import { stateOf } from './build-access';
import { EgressError, EgressPolicy, parseAllowList, pinnedLookup, type Lookup } from './egress';
import { badRequest } from './http';

export const WEBHOOK_EVENTS = ['build.succeeded', 'build.failed', 'build.cancelled', 'build.waiting'] as const;
export const WebhookEvent = z.enum(WEBHOOK_EVENTS);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

export const WebhookInput = z.object({
  url: z.url({ protocol: /^https?$/ }).max(2000).describe('http(s) URL the events are POSTed to; loopback, private, link-local, multicast and metadata addresses are refused unless the admin allow-list names the host'),
  secret: z.string().min(16).max(200).optional().describe('HMAC key; one is generated (and shown once) when left out'),
  events: z.array(WebhookEvent).min(1).default([...WEBHOOK_EVENTS]),
});

export const WebhookInfo = z.object({
  owner: z.string(),
  url: z.string(),
  events: z.array(WebhookEvent),
  createdAt: z.string(),
  updatedAt: z.string(),
  /** Only in the answer that set it: the server keeps it to sign with, but never shows it again. */
  secret: z.string().optional(),
});
export type WebhookInfo = z.infer<typeof WebhookInfo>;

export const Delivery = z.object({
  id: z.string(),
  owner: z.string(),
  event: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  nextAt: z.string().optional(),
  lastError: z.string().optional(),
  lastStatus: z.number().int().optional(),
  createdAt: z.string(),
  deliveredAt: z.string().optional(),
  payload: z.unknown(),
});
export type Delivery = z.infer<typeof Delivery>;

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the time is signed too, so an old delivery cannot be replayed as new. */
export function signature(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}

export interface WebhookOptions {
  pollMs: number;
  /** First retry after this; doubled per attempt up to maxDelayMs. */
  retryBaseMs: number;
  maxDelayMs: number;
  maxAttempts: number;
  timeoutMs: number;
  /** Base URL the payloads link to (the dashboard's own address). */
  publicUrl?: string;
  /** Hosts exempt from the egress policy's range check (default: $SBORKA_WEBHOOK_ALLOW, comma separated). */
  allowHosts?: readonly string[];
  /** Name resolution for the egress policy (default: the system's, once per check). */
  lookup?: Lookup;
}

export const DEFAULT_WEBHOOK_OPTIONS: WebhookOptions = { pollMs: 2000, retryBaseMs: 5000, maxDelayMs: 3_600_000, maxAttempts: 10, timeoutMs: 10_000 };

interface HookRow { owner: string; url: string; secret: string; events: string; created_at: string; updated_at: string }
interface DeliveryRow {
  id: string; owner: string; url: string; event: string; payload: string; status: string; attempts: number; next_at: number;
  last_error: string | null; last_status: number | null; created_at: string; delivered_at: string | null;
}

export class Webhooks {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  readonly egress: EgressPolicy;

  constructor(
    private readonly db: Db,
    private readonly client: Client,
    private readonly logger: Logger,
    readonly options: WebhookOptions = DEFAULT_WEBHOOK_OPTIONS,
  ) {
    const allow = options.allowHosts ? parseAllowList(options.allowHosts, 'webhooks.allowHosts') : parseAllowList(process.env.SBORKA_WEBHOOK_ALLOW);
    this.egress = new EgressPolicy(allow, options.lookup);
  }

  /** Sets the owner's webhook; a URL the egress policy refuses is a 400 on body.url. */
  async set(owner: string, input: z.infer<typeof WebhookInput>, now = new Date()): Promise<WebhookInfo> {
    try {
      await this.egress.vet(input.url);
    } catch (e) {
      if (!(e instanceof EgressError)) throw e;
      throw badRequest(`the webhook URL is refused: ${e.message}`, [{ path: 'body.url', message: e.message }]);
    }
    const secret = input.secret ?? randomBytes(24).toString('base64url');
    const at = now.toISOString();
    this.db
      .prepare(`INSERT INTO webhooks(owner, url, secret, events, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(owner) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events, updated_at = excluded.updated_at`)
      .run(owner, input.url, secret, JSON.stringify(input.events), at, at);
    return { ...this.get(owner)!, secret };
  }

  get(owner: string): WebhookInfo | undefined {
    const r = this.db.prepare('SELECT * FROM webhooks WHERE owner = ?').get(owner) as HookRow | undefined;
    return r ? hookInfo(r) : undefined;
  }

  list(): WebhookInfo[] {
    return (this.db.prepare('SELECT * FROM webhooks ORDER BY owner').all() as HookRow[]).map(hookInfo);
  }

  remove(owner: string): boolean {
    return this.db.prepare('DELETE FROM webhooks WHERE owner = ?').run(owner).changes === 1;
  }

  deliveries(owner: string, limit: number): Delivery[] {
    return (this.db.prepare('SELECT * FROM deliveries WHERE owner = ? ORDER BY created_at DESC, id DESC LIMIT ?').all(owner, limit) as DeliveryRow[]).map(deliveryInfo);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    if (!this.db.prepare("SELECT 1 FROM meta WHERE key = 'webhook_since'").get()) {
      // Builds that ended before webhooks were first watched are not announced.
      this.db.prepare("INSERT INTO meta(key, value) VALUES ('webhook_since', ?)").run(new Date().toISOString());
    }
    const tick = async () => {
      try {
        await this.pollOnce();
      } catch (e) {
        this.logger.warn({ err: e }, 'webhook poll failed');
      }
      try {
        await this.deliverDue();
      } catch (e) {
        this.logger.warn({ err: e }, 'webhook delivery failed');
      }
    };
    const loop = () => {
      if (this.stopped) return;
      this.running = tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(loop, Math.min(this.options.pollMs, this.options.retryBaseMs, 1000) / 2);
      });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private lastPoll = 0;

  /** Finds new events of every owner with a webhook and queues their deliveries. */
  async pollOnce(now = Date.now()): Promise<void> {
    if (now - this.lastPoll < this.options.pollMs) return;
    this.lastPoll = now;
    const hooks = this.list();
    if (hooks.length === 0) return;
    const owners = hooks.map((h) => `'${h.owner}'`).join(', ');
    const since = (this.db.prepare("SELECT value FROM meta WHERE key = 'webhook_since'").get() as { value: string }).value;
    // Visibility is eventually consistent: look back a minute; the event keys drop repeats.
    const from = new Date(Math.min(Date.parse(since), now) - 60_000).toISOString();
    const pollStart = new Date(now).toISOString();

    for await (const wf of this.client.workflow.list({ query: `WorkflowType = '${BUILD_PRODUCT}' AND SborkaOwner IN (${owners}) AND CloseTime >= '${from}'` })) {
      if (!wf.closeTime || wf.closeTime.toISOString() < since) continue;
      const state = stateOf(wf.status.name, wf.typedSearchAttributes.get(SA_STATE));
      if (state === 'skipped') continue; // a nightly whose night was not its to build (activities/nightly.ts): no news
      const event: WebhookEvent = state === 'succeeded' ? 'build.succeeded' : state === 'cancelled' ? 'build.cancelled' : 'build.failed';
      const owner = String(wf.typedSearchAttributes.get(SA_OWNER) ?? '');
      this.enqueueOnce(`closed:${wf.workflowId}:${wf.runId}`, owner, event, {
        build: {
          buildId: wf.workflowId,
          runId: wf.runId,
          product: String(wf.typedSearchAttributes.get(SA_PRODUCT) ?? ''),
          owner,
          arches: (wf.typedSearchAttributes.get(SA_ARCH) as string[] | undefined) ?? [],
          state,
          startedAt: wf.startTime.toISOString(),
          endedAt: wf.closeTime.toISOString(),
          url: this.link(wf.workflowId),
        },
      });
    }

    const running = new Set<string>();
    for await (const wf of this.client.workflow.list({ query: `WorkflowType = 'BuildVariant' AND ExecutionStatus = 'Running' AND SborkaOwner IN (${owners})` })) {
      running.add(wf.workflowId);
      const state = String(wf.typedSearchAttributes.get(SA_STATE) ?? 'running');
      const waiting = state === 'waiting' ? await this.waitingStep(wf.workflowId) : undefined;
      // Which step waits is part of the event's identity: when the query cannot say, ask again next poll.
      if (state === 'waiting' && !waiting) continue;
      // A variant can wait again after a retry: the step and its attempt tell each wait apart.
      const tag = state === 'waiting' ? `waiting:${waiting?.step ?? ''}:${waiting?.attempt ?? ''}` : state;
      const seen = this.db.prepare('SELECT run_id, state FROM webhook_seen WHERE workflow_id = ?').get(wf.workflowId) as { run_id: string; state: string } | undefined;
      this.db.prepare('INSERT INTO webhook_seen(workflow_id, run_id, state) VALUES (?, ?, ?) ON CONFLICT(workflow_id) DO UPDATE SET run_id = excluded.run_id, state = excluded.state').run(wf.workflowId, wf.runId, tag);
      if (state !== 'waiting' || (seen?.state === tag && seen.run_id === wf.runId)) continue;
      const owner = String(wf.typedSearchAttributes.get(SA_OWNER) ?? '');
      // The variant's parent is its build; variant ids hold dots, so the id cannot be split.
      const buildId = wf.parentExecution?.workflowId ?? wf.workflowId;
      this.enqueueOnce(`${wf.workflowId}:${wf.runId}:${tag}`, owner, 'build.waiting', {
        build: { buildId, product: String(wf.typedSearchAttributes.get(SA_PRODUCT) ?? ''), owner, state: 'waiting', url: this.link(buildId) },
        variant: {
          workflowId: wf.workflowId,
          variantId: wf.workflowId.slice(buildId.length + 1),
          arch: ((wf.typedSearchAttributes.get(SA_ARCH) as string[] | undefined) ?? [])[0],
          ...(waiting ? { step: waiting.step, actions: waiting.actions, error: waiting.error } : {}),
        },
      });
    }
    const stale = (this.db.prepare('SELECT workflow_id FROM webhook_seen').all() as { workflow_id: string }[]).filter((r) => !running.has(r.workflow_id));
    for (const r of stale) this.db.prepare('DELETE FROM webhook_seen WHERE workflow_id = ?').run(r.workflow_id);
    this.db.prepare("UPDATE meta SET value = ? WHERE key = 'webhook_since'").run(pollStart);
  }

  private async waitingStep(workflowId: string) {
    try {
      const status = VariantStatus.parse(await this.client.workflow.getHandle(workflowId).query(variantStatusQuery));
      const w = status.waiting[0];
      if (!w) return undefined;
      const step = status.steps.find((s) => s.id === w.step);
      return { step: w.step, actions: w.actions, attempt: step?.attempt, error: step?.error?.message };
    } catch {
      return undefined; // the event still goes out, without the step
    }
  }

  private link(buildId: string): string {
    return `${this.options.publicUrl ?? ''}/#/builds/${encodeURIComponent(buildId)}`;
  }

  private enqueueOnce(key: string, owner: string, event: WebhookEvent, body: Record<string, unknown>): void {
    const hook = this.db.prepare('SELECT * FROM webhooks WHERE owner = ?').get(owner) as HookRow | undefined;
    if (!hook) return;
    const events = JSON.parse(hook.events) as string[];
    this.db.transaction(() => {
      if (this.db.prepare('INSERT OR IGNORE INTO webhook_events(key, at) VALUES (?, ?)').run(key, new Date().toISOString()).changes === 0) return;
      if (!events.includes(event)) return;
      const id = `dlv_${randomBytes(8).toString('hex')}`;
      const at = new Date().toISOString();
      const payload = JSON.stringify({ id, event, at, ...body });
      this.db
        .prepare("INSERT INTO deliveries(id, owner, url, event, payload, status, attempts, next_at, created_at) VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)")
        .run(id, owner, hook.url, event, payload, Date.now(), at);
    })();
  }

  /** Sends every delivery that is due; a failure is tried again after base × 2^(attempts−1). */
  async deliverDue(now = Date.now()): Promise<void> {
    const due = this.db.prepare("SELECT * FROM deliveries WHERE status = 'pending' AND next_at <= ? ORDER BY next_at LIMIT 20").all(now) as DeliveryRow[];
    await Promise.all(due.map((d) => this.attempt(d)));
  }

  private async attempt(d: DeliveryRow): Promise<void> {
    const hook = this.db.prepare('SELECT secret FROM webhooks WHERE owner = ?').get(d.owner) as { secret: string } | undefined;
    if (!hook) {
      this.db.prepare("UPDATE deliveries SET status = 'failed', last_error = 'the webhook was removed' WHERE id = ?").run(d.id);
      return;
    }
    const t = Math.floor(Date.now() / 1000);
    let error: string | undefined;
    let status: number | undefined;
    let refused = false;
    let agent: Agent | undefined;
    try {
      const target = await this.egress.vet(d.url);
      // Resolved once above; the connection goes to that address (TLS still verifies the name).
      agent = new Agent({ connect: { lookup: pinnedLookup(target.address, target.family) } });
      const res = await request(target.url, {
        dispatcher: agent,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sborka-webhook/1',
          'x-sborka-event': d.event,
          'x-sborka-delivery': d.id,
          'x-sborka-signature': signature(hook.secret, d.payload, t),
        },
        body: d.payload,
        // No redirects (undici's request follows none): a 3xx is a failed delivery.
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      status = res.statusCode;
      // Read and dropped: the partner sees the status code, never the remote's body.
      await res.body.dump().catch(() => undefined);
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      refused = e instanceof EgressError && !e.retry;
      error = e instanceof EgressError ? `refused by the egress policy: ${e.message}` : networkError(e, this.options.timeoutMs);
      if (!(e instanceof EgressError)) this.logger.debug({ delivery: d.id, err: e }, 'webhook connection failed');
    } finally {
      await agent?.close().catch(() => undefined);
    }
    const attempts = d.attempts + 1;
    if (!error) {
      this.db.prepare("UPDATE deliveries SET status = 'delivered', attempts = ?, last_status = ?, last_error = NULL, delivered_at = ? WHERE id = ?").run(attempts, status ?? null, new Date().toISOString(), d.id);
      return;
    }
    // A refused destination stays refused: no retries.
    const giveUp = refused || attempts >= this.options.maxAttempts;
    const delay = Math.min(this.options.maxDelayMs, this.options.retryBaseMs * 2 ** (attempts - 1));
    this.db
      .prepare('UPDATE deliveries SET status = ?, attempts = ?, next_at = ?, last_error = ?, last_status = ? WHERE id = ?')
      .run(giveUp ? 'failed' : 'pending', attempts, Date.now() + delay, error, status ?? null, d.id);
    this.logger.info({ delivery: d.id, owner: d.owner, attempts, error, giveUp }, 'webhook delivery failed');
  }
}

/** What a partner may see of a failed connection: its kind and code, never addresses or remote text. */
function networkError(e: unknown, timeoutMs: number): string {
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError' || err.code === 'UND_ERR_HEADERS_TIMEOUT') return `timed out after ${timeoutMs} ms`;
  const code = err.code ?? err.cause?.code;
  return code && /^[A-Z_]+$/.test(code) ? `connection failed (${code})` : 'connection failed';
}

function hookInfo(r: HookRow): WebhookInfo {
  return { owner: r.owner, url: r.url, events: JSON.parse(r.events) as WebhookEvent[], createdAt: r.created_at, updatedAt: r.updated_at };
}

function deliveryInfo(r: DeliveryRow): Delivery {
  return {
    id: r.id,
    owner: r.owner,
    event: r.event,
    status: r.status as Delivery['status'],
    attempts: r.attempts,
    ...(r.status === 'pending' ? { nextAt: new Date(r.next_at).toISOString() } : {}),
    ...(r.last_error ? { lastError: r.last_error } : {}),
    ...(r.last_status !== null ? { lastStatus: r.last_status } : {}),
    createdAt: r.created_at,
    ...(r.delivered_at ? { deliveredAt: r.delivered_at } : {}),
    payload: JSON.parse(r.payload) as unknown,
  };
}
