// Changelog entries of the packages two builds differ in, read from the .debs in the deb
// cache (apt's file names) with dpkg-deb and tar: usr/share/doc/<pkg>/changelog.Debian.gz,
// or changelog.gz for a native package. Used by the publish step's CHANGES.md and `sborka diff`.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ChangelogLookup, ChangeSide } from '../../publish/changes';
import { parseDebianChangelog, type ChangelogEntry } from '../../publish/debversion';
import { debFileName } from '../debian/lock';

/** changelog.Debian.gz (or changelog.gz) of a .deb, read with dpkg-deb and tar; undefined when it has none. */
export function debChangelog(deb: string, name: string): ChangelogEntry[] | undefined {
  let tarball: Buffer;
  if (!fs.existsSync(deb)) return undefined;
  try {
    tarball = execFileSync('dpkg-deb', ['--fsys-tarfile', deb], { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
  for (const member of [`./usr/share/doc/${name}/changelog.Debian.gz`, `./usr/share/doc/${name}/changelog.gz`]) {
    try {
      const gz = execFileSync('tar', ['--extract', '--to-stdout', '--file=-', member], { input: tarball, maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'ignore'] });
      if (gz.length > 0) return parseDebianChangelog(gunzipSync(gz).toString('utf8'));
    } catch {
      // not in this package: try the next name
    }
  }
  return undefined;
}

/** Changelogs from the .debs of `sides` found in `debDir` (apt's file names): the newest version's deb tells the most. */
export function debCacheChangelogs(debDir: string, sides: readonly ChangeSide[]): ChangelogLookup {
  const cache = new Map<string, readonly ChangelogEntry[] | undefined>();
  return (name) => {
    if (cache.has(name)) return cache.get(name);
    let found: readonly ChangelogEntry[] | undefined;
    for (const side of sides) {
      const p = side.packages?.find((x) => x.name === name);
      if (!p?.arch) continue;
      const entries = debChangelog(path.join(debDir, debFileName({ name: p.name, version: p.version, arch: p.arch })), name);
      if (entries && (!found || entries.length > found.length)) found = entries;
    }
    cache.set(name, found);
    return found;
  };
}
