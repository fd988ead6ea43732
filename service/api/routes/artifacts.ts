// Artifacts (download with checksums), short-lived download links a browser can follow,
// license reports and SBOMs. Bytes come from the store through this host's cache (../artifacts.ts).
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as path from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { buildView, planOfBuild } from '../../builds';
import { ArtifactInfo, artifactFile, checkedStream, publicInfo, resolveArtifacts, type ResolvedFile } from '../artifacts';
import { BuildId, visibleBuild } from '../build-access';
import type { ApiDeps } from '../deps';
import { ApiError, notFound, route, type Principal } from '../http';
import { readStepFile, storeOf } from '../../step-file';
import { tokenInfo } from '../tokens';

const LINK_TTL_MS = 10 * 60_000;
const ArtifactParams = z.object({ id: BuildId, variant: z.string().min(1).max(300), name: z.string().min(1).max(200) });

export const LicenseReportEntry = z.object({
  variantId: z.string(),
  present: z.boolean(),
  /** Why there is none: the plan checks no licenses, or the check has not finished. */
  reason: z.string().optional(),
  stepState: z.string().optional(),
  verdict: z.string().optional(),
  report: z.unknown().optional().describe('license-report.json as the verify-licenses step wrote it'),
  sbom: ArtifactInfo.optional(),
});

export function artifactRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const { client, config } = deps;

  const artifactsOf = async (principal: Principal, buildId: string): Promise<ResolvedFile[]> => {
    await visibleBuild(client, principal, buildId);
    const [plan, view] = await Promise.all([planOfBuild(client, buildId), buildView(client, buildId)]);
    return resolveArtifacts(config, buildId, plan, view.variants);
  };

  const sendFile = async (reply: FastifyReply, a: ResolvedFile) => {
    const got = await artifactFile(config, a, deps.logger);
    if (!got) throw new ApiError(409, 'conflict', `artifact "${a.name}" of ${a.variantId} is not available (its step "${a.step}" has not produced it, or no sound copy of it is in the store)`);
    const hex = got.sha256;
    reply
      .header('content-type', a.format === 'sbom' || a.path.endsWith('.json') ? 'application/json' : 'application/octet-stream')
      .header('content-length', String(got.size))
      .header('content-disposition', `attachment; filename="${path.basename(a.path).replace(/[^A-Za-z0-9._+-]/g, '_')}"`)
      .header('x-checksum-sha256', hex)
      // RFC 9530: the digest of the representation, so a client can check what it got.
      .header('repr-digest', `sha-256=:${Buffer.from(hex, 'hex').toString('base64')}:`)
      .header('cache-control', 'private, max-age=3600');
    return reply.send(checkedStream(got.file, got.sha256, got.size));
  };

  const find = (all: ResolvedFile[], variant: string, name: string): ResolvedFile => {
    const a = all.find((x) => x.variantId === variant && x.name === name);
    if (!a) throw notFound(`no artifact "${name}" of variant "${variant}"`);
    return a;
  };

  route(app, {
    method: 'GET', url: '/api/builds/:id/artifacts', summary: 'every artifact of the build with its size and sha256', tags: ['artifacts'],
    params: z.object({ id: BuildId }),
    response: { description: 'artifacts', schema: z.object({ artifacts: z.array(ArtifactInfo) }) }, names: { response: 'ArtifactList' },
  }, async ({ principal, params }) => ({ artifacts: (await artifactsOf(principal, params.id)).map(publicInfo) }));

  route(app, {
    method: 'GET', url: '/api/builds/:id/artifacts/:variant/:name', summary: 'download an artifact (X-Checksum-Sha256 and Repr-Digest carry its checksum)', tags: ['artifacts'],
    params: ArtifactParams,
    response: { description: 'the file', contentType: 'application/octet-stream' },
  }, async ({ principal, params, reply }) => sendFile(reply, find(await artifactsOf(principal, params.id), params.variant, params.name)));

  route(app, {
    method: 'GET', url: '/api/builds/:id/artifacts/:variant/:name/link',
    summary: 'a download URL valid for 10 minutes, for browsers (which cannot send the token with a plain link)', tags: ['artifacts'],
    params: ArtifactParams,
    response: { description: 'the link', schema: z.object({ url: z.string(), expiresAt: z.string(), sha256: z.string(), size: z.number().int() }) }, names: { response: 'DownloadLink' },
  }, async ({ principal, params }) => {
    const a = find(await artifactsOf(principal, params.id), params.variant, params.name);
    if (!a.available) throw new ApiError(409, 'conflict', `artifact "${a.name}" is not available yet`);
    const exp = Date.now() + LINK_TTL_MS;
    // The link names the token: revoking the token kills its links too.
    const payload = Buffer.from(JSON.stringify({ b: params.id, v: params.variant, n: params.name, t: principal.tokenId ?? null, r: principal.role, e: exp })).toString('base64url');
    return { url: `/dl/${payload}.${sign(deps.linkKey, payload)}`, expiresAt: new Date(exp).toISOString(), sha256: a.sha256!, size: a.size! };
  });

  route(app, {
    method: 'GET', url: '/dl/:link', summary: 'follow a download link made by …/link', tags: ['artifacts'], auth: 'none',
    params: z.object({ link: z.string().max(2000) }),
    response: { description: 'the file', contentType: 'application/octet-stream' },
  }, async ({ params, reply }) => {
    const [payload, mac] = params.link.split('.');
    const expected = payload ? sign(deps.linkKey, payload) : '';
    if (!payload || !mac || mac.length !== expected.length || !timingSafeEqual(Buffer.from(mac), Buffer.from(expected))) throw notFound('no such link');
    const p = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { b: string; v: string; n: string; t: string | null; r: string; e: number };
    if (Date.now() > p.e) throw notFound('the link has expired: ask for a new one');
    let principal: Principal;
    if (p.t) {
      const tok = tokenInfo(deps.db, p.t);
      if (!tok || tok.revokedAt) throw notFound('no such link');
      principal = { tokenId: tok.id, name: tok.name, role: tok.role };
    } else {
      principal = { name: 'anonymous', role: 'community' };
    }
    // Tenancy is checked again, now, with the token's current role.
    return sendFile(reply, find(await artifactsOf(principal, p.b), p.v, p.n));
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id/licenses', summary: 'the license report of each variant (absent when the plan checks no licenses)', tags: ['licenses'],
    params: z.object({ id: BuildId }),
    response: { description: 'reports', schema: z.object({ variants: z.array(LicenseReportEntry) }) }, names: { response: 'LicenseReports' },
  }, async ({ principal, params }) => {
    await visibleBuild(client, principal, params.id);
    const [plan, view] = await Promise.all([planOfBuild(client, params.id), buildView(client, params.id)]);
    const all = await resolveArtifacts(config, params.id, plan, view.variants);
    // Through the store like every step file, bounded and checked against the entry's sha256.
    const store = storeOf({ config, logger: deps.logger });
    const reports = await Promise.all(plan.variants.map(async (v) => {
      const report = all.find((a) => a.variantId === v.id && a.name === 'license-report');
      return report?.available && report.key !== undefined ? readStepFile(store, { key: report.key, owner: plan.owner }, report.path) : undefined;
    }));
    return {
      variants: plan.variants.map((v, i) => {
        const report = all.find((a) => a.variantId === v.id && a.name === 'license-report');
        const sbom = all.find((a) => a.variantId === v.id && a.format === 'sbom');
        const stepState = view.variants.find((s) => s.variantId === v.id)?.steps.find((s) => s.kind === 'verify-licenses')?.state;
        if (!report) return { variantId: v.id, present: false, reason: 'the plan checks no licenses' };
        const file = reports[i];
        if (!report.available || !file) return { variantId: v.id, present: false, reason: 'the license check has not produced a report', ...(stepState ? { stepState } : {}) };
        const parsed = JSON.parse(file.toString('utf8')) as { verdict?: string };
        return {
          variantId: v.id,
          present: true,
          ...(stepState ? { stepState } : {}),
          ...(parsed.verdict ? { verdict: parsed.verdict } : {}),
          report: parsed,
          ...(sbom ? { sbom: publicInfo(sbom) } : {}),
        };
      }),
    };
  });

  route(app, {
    method: 'GET', url: '/api/builds/:id/sbom/:variant', summary: 'a variant\'s SBOM (SPDX JSON)', tags: ['licenses'],
    params: z.object({ id: BuildId, variant: z.string().min(1).max(300) }),
    response: { description: 'SPDX 2.3 JSON', contentType: 'application/json' },
  }, async ({ principal, params, reply }) => {
    const all = await artifactsOf(principal, params.id);
    const sbom = all.find((a) => a.variantId === params.variant && a.format === 'sbom');
    if (!sbom) throw notFound(`variant "${params.variant}" has no SBOM`);
    return sendFile(reply, sbom);
  });
}

function sign(key: string, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}
