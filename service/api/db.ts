// The API's own SQLite file (tokens, audit log, webhooks and their deliveries, license
// decisions). It holds no build state: that stays in Temporal. WAL mode lets `sborka token
// revoke` write while a running `sborka serve` reads, so a revocation is seen by the very
// next request.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     role TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     revoked_at TEXT,
     last_used_at TEXT
   );
   CREATE TABLE audit (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     token_id TEXT,
     who TEXT NOT NULL,
     role TEXT,
     method TEXT NOT NULL,
     route TEXT NOT NULL,
     url TEXT NOT NULL,
     target TEXT,
     status INTEGER NOT NULL,
     ip TEXT,
     detail TEXT
   );
   CREATE INDEX audit_at ON audit(at);
   CREATE TABLE webhooks (
     owner TEXT PRIMARY KEY,
     url TEXT NOT NULL,
     secret TEXT NOT NULL,
     events TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE webhook_events (
     key TEXT PRIMARY KEY,
     at TEXT NOT NULL
   );
   CREATE TABLE webhook_seen (
     workflow_id TEXT PRIMARY KEY,
     run_id TEXT NOT NULL,
     state TEXT NOT NULL
   );
   CREATE TABLE deliveries (
     id TEXT PRIMARY KEY,
     owner TEXT NOT NULL,
     url TEXT NOT NULL,
     event TEXT NOT NULL,
     payload TEXT NOT NULL,
     status TEXT NOT NULL,
     attempts INTEGER NOT NULL,
     next_at INTEGER NOT NULL,
     last_error TEXT,
     last_status INTEGER,
     created_at TEXT NOT NULL,
     delivered_at TEXT
   );
   CREATE INDEX deliveries_due ON deliveries(status, next_at);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // License decisions (service/api/decisions.ts): one row per package and scope, kept after
  // revocation (revoked_at) so the trail shows what cleared a build at the time.
  `CREATE TABLE license_decisions (
     id TEXT PRIMARY KEY,
     package TEXT NOT NULL,
     versions TEXT NOT NULL,
     expression TEXT NOT NULL,
     scope_kind TEXT NOT NULL,
     scope_owner TEXT,
     scope_product TEXT,
     by TEXT NOT NULL,
     reason TEXT NOT NULL,
     at TEXT NOT NULL,
     until TEXT,
     build_id TEXT,
     revoked_at TEXT,
     revoked_by TEXT
   );
   CREATE INDEX license_decisions_live ON license_decisions(revoked_at, package);`,
];

export function apiDbPath(stateDir: string): string {
  return path.join(stateDir, 'api.sqlite');
}

export function openApiDb(stateDir: string): Db {
  fs.mkdirSync(stateDir, { recursive: true });
  const db = new Database(apiDbPath(stateDir));
  db.pragma('journal_mode = WAL');
  // The CLI and the server may write at once: wait for the other instead of failing.
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return db;
}

/** A value kept across restarts (the download-link key), created on first use. */
export function metaValue(db: Db, key: string, create: () => string): string {
  const row = db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
  if (row) return row.value;
  db.prepare('INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)').run(key, create());
  return (db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string }).value;
}
