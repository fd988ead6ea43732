// Webhooks per owner and their deliveries.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import { forbidden, notFound, route } from '../http';
import { mayConfigureWebhook, Role } from '../roles';
import { Delivery, WebhookInfo, WebhookInput } from '../webhooks';

const OwnerParams = z.object({ owner: Role.refine((r) => r !== 'admin', 'an owner: community, maintainer:<team> or partner:<name>') });

export function webhookRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { webhooks } = deps;
  const check = (role: string, owner: string, write: boolean) => {
    if (role === 'community') {
      if (write) throw forbidden('community tokens cannot configure webhooks');
      throw notFound(`no webhook for "${owner}"`);
    }
    if (!mayConfigureWebhook(role, owner)) throw notFound(`no webhook for "${owner}"`);
  };

  route(app, {
    method: 'GET', url: '/api/webhooks', summary: 'webhooks the token may see (a partner: its own)', tags: ['webhooks'],
    response: { description: 'webhooks', schema: z.object({ webhooks: z.array(WebhookInfo) }) }, names: { response: 'WebhookList' },
  }, async ({ principal }) => ({ webhooks: principal.role === 'community' ? [] : webhooks.list().filter((w) => mayConfigureWebhook(principal.role, w.owner)) }));

  route(app, {
    method: 'PUT', url: '/api/webhooks/:owner',
    summary: 'set the owner\'s webhook: events are POSTed with X-Sborka-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>', tags: ['webhooks'],
    params: OwnerParams, body: WebhookInput,
    response: { description: 'the webhook, with its secret (shown this once)', schema: WebhookInfo }, names: { body: 'WebhookInput', response: 'Webhook' },
  }, async ({ principal, params, body, req }) => {
    req.auditTarget = params.owner;
    check(principal.role, params.owner, true);
    return webhooks.set(params.owner, body);
  });

  route(app, {
    method: 'DELETE', url: '/api/webhooks/:owner', summary: 'remove the owner\'s webhook', tags: ['webhooks'],
    params: OwnerParams,
    response: { description: 'removed', schema: z.object({ deleted: z.string() }) },
  }, async ({ principal, params, req }) => {
    req.auditTarget = params.owner;
    check(principal.role, params.owner, true);
    if (!webhooks.remove(params.owner)) throw notFound(`no webhook for "${params.owner}"`);
    return { deleted: params.owner };
  });

  route(app, {
    method: 'GET', url: '/api/webhooks/:owner/deliveries', summary: 'recent deliveries, with attempts and the last error', tags: ['webhooks'],
    params: OwnerParams, query: z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) }),
    response: { description: 'deliveries', schema: z.object({ deliveries: z.array(Delivery) }) }, names: { response: 'DeliveryList' },
  }, async ({ principal, params, query }) => {
    check(principal.role, params.owner, false);
    return { deliveries: webhooks.deliveries(params.owner, query.limit) };
  });
}
