// Which published nightlies go: per product and arch keep the newest N; a promoted build
// and the one `latest` names are never candidates. Pure, so it can be tested exhaustively.

export interface PublishedVersion {
  /** Directory name of the version segment ({date} or {build} value). */
  name: string;
  buildId: string;
  /** ISO time the version became visible. */
  publishedAt: string;
}

export function selectForRemoval(
  versions: readonly PublishedVersion[],
  keep: number,
  protect: { promotedBuildIds?: ReadonlySet<string>; latest?: string } = {},
): PublishedVersion[] {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`retention must keep at least one version, got ${keep}`);
  const newestFirst = [...versions].sort((a, b) => b.publishedAt.localeCompare(a.publishedAt) || b.name.localeCompare(a.name));
  return newestFirst
    .slice(keep)
    .filter((v) => !protect.promotedBuildIds?.has(v.buildId) && v.name !== protect.latest);
}
