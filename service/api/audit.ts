// The audit log: every mutating call (who, what, when, and how it ended), refused ones too.
import { z } from 'zod';
import type { Db } from './db';

export const AuditEntry = z.object({
  id: z.number().int(),
  at: z.string(),
  tokenId: z.string().optional(),
  who: z.string(),
  role: z.string().optional(),
  method: z.string(),
  route: z.string(),
  url: z.string(),
  target: z.string().optional(),
  status: z.number().int(),
  ip: z.string().optional(),
  detail: z.string().optional(),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export interface AuditRecord {
  tokenId?: string;
  who: string;
  role?: string;
  method: string;
  route: string;
  url: string;
  target?: string;
  status: number;
  ip?: string;
  detail?: string;
  at?: Date;
}

export function recordAudit(db: Db, r: AuditRecord): void {
  db.prepare(
    'INSERT INTO audit(at, token_id, who, role, method, route, url, target, status, ip, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  ).run((r.at ?? new Date()).toISOString(), r.tokenId ?? null, r.who, r.role ?? null, r.method, r.route, r.url, r.target ?? null, r.status, r.ip ?? null, r.detail ?? null);
}

interface AuditRow {
  id: number; at: string; token_id: string | null; who: string; role: string | null; method: string; route: string;
  url: string; target: string | null; status: number; ip: string | null; detail: string | null;
}

export function listAudit(db: Db, opts: { limit: number; target?: string; who?: string }): AuditEntry[] {
  const where: string[] = [];
  const args: unknown[] = [];
  if (opts.target) {
    where.push('target = ?');
    args.push(opts.target);
  }
  if (opts.who) {
    where.push('(who = ? OR token_id = ?)');
    args.push(opts.who, opts.who);
  }
  const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
  return (db.prepare(sql).all(...args, opts.limit) as AuditRow[]).map((r) => ({
    id: r.id,
    at: r.at,
    ...(r.token_id ? { tokenId: r.token_id } : {}),
    who: r.who,
    ...(r.role ? { role: r.role } : {}),
    method: r.method,
    route: r.route,
    url: r.url,
    ...(r.target ? { target: r.target } : {}),
    status: r.status,
    ...(r.ip ? { ip: r.ip } : {}),
    ...(r.detail ? { detail: r.detail } : {}),
  }));
}
