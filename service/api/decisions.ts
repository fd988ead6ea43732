// License decisions in the service's database: recorded by `approve` (one per package a
// review asked about), by the API and by `sborka license decisions import`; listed, exported
// and revoked there too. Every change is written to the audit log and then to the decisions
// file the license step reads on the build host (activities/licenses/decisions-file.ts
// explains why a file): the database is the record, the file its published copy.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DECISIONS_FILE } from '../../activities/licenses/decisions-file';
import { Decision, DecisionFile, type DecisionScope } from '../../licenses/decisions';
import { recordAudit } from './audit';
import type { Db } from './db';
import { canSeeDecision, mayDecide, type Role } from './roles';

export interface Actor {
  name: string;
  role: Role;
  tokenId?: string;
}

export class DecisionError extends Error {
  constructor(message: string, readonly status: 400 | 403 | 404) {
    super(message);
  }
}

/** A decision as stored, with its revocation when it has one. */
export type StoredDecision = Decision & { buildId?: string; revokedAt?: string; revokedBy?: string };

interface Row {
  id: string; package: string; versions: string; expression: string; scope_kind: string; scope_owner: string | null; scope_product: string | null;
  by: string; reason: string; at: string; until: string | null; build_id: string | null; revoked_at: string | null; revoked_by: string | null;
}

function scopeOf(r: Row): DecisionScope {
  if (r.scope_kind === 'global') return { kind: 'global' };
  if (r.scope_kind === 'owner') return { kind: 'owner', owner: r.scope_owner! };
  return { kind: 'product', owner: r.scope_owner!, product: r.scope_product! };
}

function fromRow(r: Row): StoredDecision {
  return {
    id: r.id, package: r.package, versions: r.versions, expression: r.expression, scope: scopeOf(r), by: r.by, reason: r.reason, at: r.at,
    ...(r.until ? { until: r.until } : {}),
    ...(r.build_id ? { buildId: r.build_id } : {}),
    ...(r.revoked_at ? { revokedAt: r.revoked_at, revokedBy: r.revoked_by ?? undefined } : {}),
  };
}

export const newDecisionId = () => `d-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

const sameScope = (a: DecisionScope, b: DecisionScope) => a.kind === b.kind && (a.kind === 'global' || (a.owner === (b as { owner: string }).owner && (a.kind !== 'product' || a.product === (b as { product: string }).product)));

function audit(db: Db, actor: Actor, what: string, target: string, detail: unknown): void {
  recordAudit(db, {
    ...(actor.tokenId ? { tokenId: actor.tokenId } : {}), who: actor.name, role: actor.role,
    method: what, route: 'license-decisions', url: `license-decisions/${target}`, target, status: 200, detail: JSON.stringify(detail),
  });
}

/**
 * Records decisions as `actor`; each supersedes (revokes) the live decision for the same
 * package and scope. All or nothing: one the actor may not make refuses them all.
 */
export function recordDecisions(db: Db, actor: Actor, decisions: readonly Decision[], opts: { buildId?: string; stateDir?: string } = {}): StoredDecision[] {
  for (const d of decisions) {
    if (!mayDecide(actor.role, d.scope)) {
      throw new DecisionError(d.scope.kind === 'global' ? 'only admins and maintainers make global license decisions' : `role ${actor.role} cannot decide for ${d.scope.owner}`, 403);
    }
  }
  const insert = db.prepare(`INSERT INTO license_decisions(id, package, versions, expression, scope_kind, scope_owner, scope_product, by, reason, at, until, build_id)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  const live = db.prepare('SELECT * FROM license_decisions WHERE package = ? AND revoked_at IS NULL');
  const revoke = db.prepare('UPDATE license_decisions SET revoked_at = ?, revoked_by = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM license_decisions WHERE id = ?');
  const out: StoredDecision[] = [];
  db.transaction(() => {
    for (const d of decisions) {
      // The same id again (an import of an edited or revoked one) replaces that row; the audit
      // log keeps what it was. Another live one for the same package and scope is superseded.
      remove.run(d.id);
      for (const old of (live.all(d.package) as Row[]).map(fromRow)) {
        if (sameScope(old.scope, d.scope)) revoke.run(new Date().toISOString(), `${actor.name} (superseded by ${d.id})`, old.id);
      }
      const s = d.scope;
      insert.run(d.id, d.package, d.versions, d.expression, s.kind, s.kind === 'global' ? null : s.owner, s.kind === 'product' ? s.product : null, d.by, d.reason, d.at, d.until ?? null, opts.buildId ?? null);
      audit(db, actor, 'DECIDE', d.id, { ...d, ...(opts.buildId ? { buildId: opts.buildId } : {}) });
      out.push({ ...d, ...(opts.buildId ? { buildId: opts.buildId } : {}) });
    }
  })();
  if (opts.stateDir) publishDecisionsFile(db, opts.stateDir);
  return out;
}

export function listDecisions(db: Db, role: Role, filter: { package?: string; revoked?: boolean } = {}): StoredDecision[] {
  const where = [filter.revoked ? '1 = 1' : 'revoked_at IS NULL'];
  const args: string[] = [];
  if (filter.package) {
    where.push('package = ?');
    args.push(filter.package);
  }
  const rows = db.prepare(`SELECT * FROM license_decisions WHERE ${where.join(' AND ')} ORDER BY package, at`).all(...args) as Row[];
  return rows.map(fromRow).filter((d) => canSeeDecision(role, d.scope));
}

export function revokeDecision(db: Db, actor: Actor, id: string, stateDir?: string): StoredDecision {
  const row = db.prepare('SELECT * FROM license_decisions WHERE id = ?').get(id) as Row | undefined;
  const d = row && fromRow(row);
  // Another scope's decision is "not found" to a partner, as builds it may not see are.
  if (!d || !canSeeDecision(actor.role, d.scope)) throw new DecisionError(`no license decision "${id}"`, 404);
  if (d.revokedAt) return d;
  const at = new Date().toISOString();
  db.prepare('UPDATE license_decisions SET revoked_at = ?, revoked_by = ? WHERE id = ?').run(at, actor.name, id);
  audit(db, actor, 'REVOKE', id, { package: d.package, scope: d.scope });
  if (stateDir) publishDecisionsFile(db, stateDir);
  return { ...d, revokedAt: at, revokedBy: actor.name };
}

/** The live decisions `role` may see, as the file a maintainer keeps next to the recipes. */
export function exportDecisions(db: Db, role: Role): DecisionFile {
  return { sborkaLicenseDecisions: 1, decisions: listDecisions(db, role).map(({ buildId: _b, revokedAt: _r, revokedBy: _rb, ...d }) => d) };
}

/** Reads an exported file (JSON); errors name the decision and field. */
export function parseDecisionFile(text: string, where: string): DecisionFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DecisionError(`${where}: not JSON: ${(e as Error).message}`, 400);
  }
  const parsed = DecisionFile.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new DecisionError(`${where}: ${problems}`, 400);
  }
  return parsed.data;
}

/** Imports a file: decisions already recorded unchanged are skipped, the rest recorded. */
export function importDecisions(db: Db, actor: Actor, file: DecisionFile, stateDir?: string): { recorded: number; unchanged: number } {
  const current = new Map(listDecisions(db, 'admin').map((d) => [d.id, d]));
  const changed = file.decisions.filter((d) => {
    const c = current.get(d.id);
    if (!c) return true;
    const { buildId: _b, revokedAt: _r, revokedBy: _rb, ...was } = c;
    return JSON.stringify(Decision.parse(was)) !== JSON.stringify(Decision.parse(d));
  });
  recordDecisions(db, actor, changed, stateDir ? { stateDir } : {});
  return { recorded: changed.length, unchanged: file.decisions.length - changed.length };
}

/** Writes every live decision to <stateDir>/license-decisions.json (atomically) for the license step. */
export function publishDecisionsFile(db: Db, stateDir: string): string {
  const file = path.join(stateDir, DECISIONS_FILE);
  const tmp = `${file}.${process.pid}.tmp`;
  fs.mkdirSync(stateDir, { recursive: true });
  fs.writeFileSync(tmp, `${JSON.stringify(exportDecisions(db, 'admin'), null, 2)}\n`);
  fs.renameSync(tmp, file);
  return file;
}

export { Decision };
