// What changed between two builds of one product, per arch: GET /api/builds/:id/changes
// (against the last succeeded build before it, or ?from=<build>). Both builds must be
// visible to the token.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { debCacheDir } from '../../../activities/debian/mmdebstrap';
import { Changes } from '../../../publish/changes';
import { SA_PRODUCT } from '../../../workflows/search-attributes';
import { diffBuilds, lastGoodBefore } from '../../changes';
import { BuildId, visibleBuild } from '../build-access';
import type { ApiDeps } from '../deps';
import { badRequest, route } from '../http';

export function diffRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client } = deps;
  route(app, {
    method: 'GET', url: '/api/builds/:id/changes', summary: 'what changed since another build (default: the last succeeded one before it): packages with changelogs, licenses, sizes, tests, recipe', tags: ['builds'],
    params: z.object({ id: BuildId }),
    query: z.object({ from: BuildId.optional(), arch: z.string().regex(/^[a-z0-9_]{1,32}$/).optional() }),
    response: { description: 'the changes per arch', schema: z.object({ from: z.string(), to: z.string(), changes: z.array(Changes) }) }, names: { response: 'BuildChanges' },
  }, async ({ principal, params, query }) => {
    const to = await visibleBuild(client, principal, params.id);
    const product = String(to.description.typedSearchAttributes.get(SA_PRODUCT) ?? '');
    const from = query.from ?? (await lastGoodBefore(client, params.id, product));
    if (!from) throw badRequest(`build ${params.id} has no succeeded build of ${product} before it: name one with ?from=`);
    await visibleBuild(client, principal, from);
    try {
      const changes = await diffBuilds(client, params.id, from, { debDir: debCacheDir(deps.config), storeDir: deps.config.storeDir, config: deps.config, ...(query.arch ? { arch: query.arch } : {}) });
      return { from, to: params.id, changes };
    } catch (e) {
      throw badRequest(e instanceof Error ? e.message : String(e));
    }
  });
}
