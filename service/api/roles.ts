// Roles and what each may see and do. Build visibility is decided by the build's owner
// (the SborkaOwner search attribute: community | maintainer:<team> | partner:<name>).
import { z } from 'zod';

/** admin | maintainer | community | partner:<name>; the partner's name follows the plan's Name rule. */
export const Role = z
  .string()
  .regex(/^(admin|maintainer|community|partner:[a-z0-9][a-z0-9._+-]{0,127})$/, 'must be admin, maintainer, community or partner:<name>');
export type Role = string;

export function parseRole(text: string): Role | undefined {
  return Role.safeParse(text).success ? text : undefined;
}

export function partnerOf(role: Role): string | undefined {
  return role.startsWith('partner:') ? role.slice('partner:'.length) : undefined;
}

/** The distribution's own builds, readable by every role. */
export function isPublicOwner(owner: string): boolean {
  return owner === 'community' || owner.startsWith('maintainer:');
}

/** Whether `role` may see a build owned by `owner`. Admins and maintainers run the farm and see all. */
export function canSee(role: Role, owner: string): boolean {
  if (role === 'admin' || role === 'maintainer') return true;
  if (role === 'community') return isPublicOwner(owner);
  return owner === role;
}

export type Action = 'cancel' | 'resume' | 'retry' | 'skip' | 'abort' | 'approve';
export const ACTIONS: readonly Action[] = ['cancel', 'resume', 'retry', 'skip', 'abort', 'approve'];

/**
 * Whether `role` may steer a build owned by `owner`. A partner steers its own builds, but a
 * license review is approved by the distribution (admin, maintainer), never by the party
 * whose packages are being reviewed.
 */
export function canAct(role: Role, owner: string, action: Action): boolean {
  if (role === 'admin' || role === 'maintainer') return true;
  if (role === 'community') return false;
  return owner === role && action !== 'approve';
}

/** Who may submit recipes and start builds (partners only for themselves). */
export function canSubmit(role: Role): boolean {
  return role !== 'community';
}

/** Schedules are the distribution's nightlies: paused and triggered by its people. */
export function canManageSchedules(role: Role): boolean {
  return role === 'admin' || role === 'maintainer';
}

/** A plan owner as a label; the partner must carry its own. */
export function mayOwn(role: Role, owner: string): boolean {
  if (role === 'admin' || role === 'maintainer') return true;
  return owner === role;
}

/** Webhooks per owner: a partner configures its own; admins and maintainers any. */
export function mayConfigureWebhook(role: Role, owner: string): boolean {
  return role === 'admin' || role === 'maintainer' || owner === role;
}

/**
 * The visibility-query clause restricting a list to what `role` may see; undefined: all.
 * Labels are checked against Role/Name before they reach the query, so quoting is safe.
 */
export function visibilityClause(role: Role): string | undefined {
  if (role === 'admin' || role === 'maintainer') return undefined;
  if (role === 'community') return `(SborkaOwner = 'community' OR SborkaOwner STARTS_WITH 'maintainer:')`;
  return `SborkaOwner = '${role}'`;
}

export function permissions(role: Role) {
  return {
    submit: canSubmit(role),
    schedules: canManageSchedules(role),
    approve: role === 'admin' || role === 'maintainer',
    audit: role === 'admin',
    decisions: role !== 'community',
    actions: ACTIONS.filter((a) => role !== 'community' && (role === 'admin' || role === 'maintainer' || a !== 'approve')),
  };
}

/**
 * License decisions (service/api/decisions.ts): admins and maintainers see and make them in
 * every scope, global ones only they; a partner sees and makes them in its own scope only.
 */
export function canSeeDecision(role: Role, scope: { kind: string; owner?: string }): boolean {
  if (role === 'admin' || role === 'maintainer') return true;
  return partnerOf(role) !== undefined && scope.kind !== 'global' && scope.owner === role;
}

export const mayDecide = canSeeDecision;
