// Rows of `settings { }`: the installed system's configuration, its users and services.
import { argText, flatArgs, type Stmt } from '../ast';
import { addUnique, type At, type Draft, type StringSetting } from '../draft';
import type { User } from '../../plan/model';
import { checkAbsoluteTarget, checkHostname, checkLocale, checkPasswordHash, checkTimezone, type Problem } from '../values';
import { applyBlock } from './apply';
import { BOTH, type Ctx, type Property } from './types';

type Settings = Draft['settings'];
/** The draft fields of the string settings, in the rows' order: compile.ts copies each into the variant. */
export const STRING_SETTING_FIELDS: StringSetting[] = [];

/** A setting that takes one string, checked by `check` (reported under `code`) and kept in `field`. */
function stringSetting(keyword: string, field: StringSetting, value: string, doc: string, code?: string, check?: (v: string) => Problem | undefined, template = false): Property<Settings> {
  STRING_SETTING_FIELDS.push(field);
  return {
    keyword, block: 'settings', form: ['STRING'], syntax: `${keyword} "${value}"`, merge: 'scalar', toolchains: BOTH, doc,
    apply: (ctx, st, s) => {
      const a = s.args[0];
      if (a?.kind !== 'string') return;
      const v: At<string> = { value: a.value, span: a.span };
      if (template) ctx.template(v);
      if (code && check && ctx.problem(code, check(v.value), v.span)) return;
      st[field] = v;
    },
  };
}

export const USER_OPTIONS: readonly Property<User>[] = [
  {
    keyword: 'groups', block: 'user', form: ['NAMES'], syntax: 'groups NAME, ...', merge: 'list', toolchains: BOTH,
    doc: 'groups the user joins',
    apply: (_ctx, user, o) => {
      for (const g of flatArgs(o.args)) {
        const t = argText(g);
        if (t) addUnique(user.groups, t, (x) => x);
      }
    },
  },
  {
    keyword: 'password', block: 'user', form: ['STRING'], syntax: 'password "HASH"', merge: 'scalar', toolchains: BOTH,
    doc: 'a crypt(3) hash, or "!" to lock the account',
    apply: (ctx, user, o) => {
      const a = o.args[0];
      if (a?.kind === 'string' && !ctx.problem('invalid-password-hash', checkPasswordHash(a.value), a.span)) user.passwordHash = a.value;
    },
  },
  {
    keyword: 'shell', block: 'user', form: ['STRING'], syntax: 'shell "/PATH"', merge: 'scalar', toolchains: BOTH,
    doc: 'the login shell, an absolute path',
    apply: (ctx, user, o) => {
      const a = o.args[0];
      if (a?.kind === 'string' && !ctx.problem('invalid-destination', checkAbsoluteTarget(a.value, 'login shell'), a.span)) user.shell = a.value;
    },
  },
  {
    keyword: 'uid', block: 'user', form: ['INT'], syntax: 'uid NUMBER', merge: 'scalar', toolchains: BOTH,
    doc: 'the user id, 1000 to 60000',
    apply: (ctx, user, o) => {
      const a = o.args[0];
      if (a?.kind !== 'int') return;
      if (a.value < 1000 || a.value > 60000) ctx.err('out-of-range', `uid ${a.value} is outside the range for people's accounts (1000-60000)`, a.span);
      else user.uid = a.value;
    },
  },
];

function serviceToggle(keyword: 'enable' | 'disable', doc: string): Property<Settings> {
  return {
    keyword, block: 'services', form: ['NAMES'], syntax: `${keyword} NAME, ...`, merge: 'toggle', toolchains: BOTH, doc,
    apply: (_ctx, st, o) => {
      const [add, remove] = keyword === 'enable' ? [st.enable, st.disable] : [st.disable, st.enable];
      for (const x of flatArgs(o.args)) {
        const name = argText(x);
        if (!name) continue;
        remove.delete(name);
        if (!add.has(name)) add.set(name, x.span);
      }
    },
  };
}

export const SERVICE_OPTIONS: readonly Property<Settings>[] = [
  serviceToggle('enable', 'systemd units to enable at boot'),
  serviceToggle('disable', 'systemd units to disable at boot'),
];

export const SETTINGS_OPTIONS: readonly Property<Settings>[] = [
  stringSetting('locale', 'locale', 'LOCALE', 'the system locale', 'invalid-locale', checkLocale),
  stringSetting('timezone', 'timezone', 'ZONE', 'an IANA time zone, or "UTC"', 'invalid-timezone', checkTimezone),
  stringSetting('hostname', 'hostname', 'TEMPLATE', 'the host name; a template', 'invalid-hostname', checkHostname, true),
  stringSetting('keyboard', 'keyboard', 'LAYOUTS', 'the keyboard layouts, as the installer takes them'),
  stringSetting('root-password', 'rootPasswordHash', 'HASH', 'root\'s crypt(3) hash, or "!" to lock it', 'invalid-password-hash', checkPasswordHash),
  {
    keyword: 'user', block: 'settings', form: ['NAME', { opt: [{ body: 'user' }] }], syntax: 'user NAME [{ OPTIONS }]', merge: 'merge-by-name', toolchains: BOTH,
    doc: 'an account for people',
    apply: (ctx, st, s) => applyUser(ctx, st, s),
  },
  {
    keyword: 'services', block: 'settings', form: [{ body: 'services' }], syntax: 'services { enable NAME, ... disable NAME, ... }', merge: 'block', toolchains: BOTH,
    doc: 'systemd units to enable or disable',
    apply: (ctx, st, s) => applyBlock(ctx, SERVICE_OPTIONS, 'services', st, s.body ?? []),
  },
];

function applyUser(ctx: Ctx, st: Settings, s: Stmt): void {
  const name = argText(s.args[0]);
  if (!name) return;
  if (!/^[a-z_][a-z0-9_-]{0,31}$/.test(name)) {
    ctx.err('invalid-user-name', `\`${name}\` is not a user name (lower case, up to 32 characters)`, s.args[0]?.span ?? s.span);
    return;
  }
  const user: User = { ...(st.users.get(name) ?? { name, groups: [] }) };
  user.groups = [...user.groups];
  applyBlock(ctx, USER_OPTIONS, 'user', user, s.body ?? []);
  st.users.set(name, user);
}

export const SETTINGS: Property<Draft> = {
  keyword: 'settings', block: 'product', form: [{ body: 'settings' }], syntax: 'settings { SETTINGS }', merge: 'block', toolchains: BOTH,
  doc: 'the installed system\'s configuration',
  apply: (ctx, d, s) => applyBlock(ctx, SETTINGS_OPTIONS, 'settings', d.settings, s.body ?? []),
};
