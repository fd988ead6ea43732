// API tokens. Only sha256(token) is stored: a token is 32 random bytes (256 bits), so no
// one can guess it from its hash, and a fast hash lets every request be checked with one
// indexed lookup; a slow password hash (scrypt) protects low-entropy secrets, which these are not.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db } from './db';
import { Role, type Role as RoleT } from './roles';

export const TOKEN_PREFIX = 'sborka_';

export const TokenInfo = z.object({
  id: z.string(),
  name: z.string(),
  role: Role,
  createdAt: z.string(),
  createdBy: z.string(),
  revokedAt: z.string().optional(),
  lastUsedAt: z.string().optional(),
});
export type TokenInfo = z.infer<typeof TokenInfo>;

interface TokenRow {
  id: string;
  name: string;
  role: string;
  created_at: string;
  created_by: string;
  revoked_at: string | null;
  last_used_at: string | null;
}

function info(r: TokenRow): TokenInfo {
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at,
    createdBy: r.created_by,
    ...(r.revoked_at ? { revokedAt: r.revoked_at } : {}),
    ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}),
  };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Creates a token; the plain text is returned once and never stored. */
export function createToken(db: Db, opts: { role: RoleT; name?: string; createdBy: string; now?: Date }): { token: string; info: TokenInfo } {
  const id = `tok_${randomBytes(6).toString('hex')}`;
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
  const at = (opts.now ?? new Date()).toISOString();
  db.prepare('INSERT INTO tokens(id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)').run(
    id, opts.name ?? opts.role, opts.role, hashToken(token), at, opts.createdBy,
  );
  return { token, info: info(db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow) };
}

/** Revokes at once: every request looks the token up again. False if no such live token. */
export function revokeToken(db: Db, id: string, now = new Date()): boolean {
  return db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(now.toISOString(), id).changes === 1;
}

export function listTokens(db: Db): TokenInfo[] {
  return (db.prepare('SELECT * FROM tokens ORDER BY created_at, id').all() as TokenRow[]).map(info);
}

/** The live token this secret belongs to, or undefined. Records its last use (to the minute). */
export function verifyToken(db: Db, token: string, now = new Date()): TokenInfo | undefined {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
  const row = db.prepare('SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL').get(hashToken(token)) as TokenRow | undefined;
  if (!row) return undefined;
  const minute = now.toISOString().slice(0, 16);
  if (!row.last_used_at || row.last_used_at.slice(0, 16) !== minute) {
    db.prepare('UPDATE tokens SET last_used_at = ? WHERE id = ?').run(now.toISOString(), row.id);
  }
  return info(row);
}

export function tokenInfo(db: Db, id: string): TokenInfo | undefined {
  const row = db.prepare('SELECT * FROM tokens WHERE id = ?').get(id) as TokenRow | undefined;
  return row ? info(row) : undefined;
}
