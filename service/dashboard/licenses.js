// The dashboard's license decisions page (#/licenses): what people decided about license
// reviews, in the scopes this token may see, with revoke, export and import. It registers
// itself in window.SBORKA_PAGES; app.js routes to it and hands it its helpers.
'use strict';
window.SBORKA_PAGES = window.SBORKA_PAGES || {};
window.SBORKA_PAGES.licenses = async function licensesPage(ui) {
  const { h, t, api, show, fail } = ui;
  const scope = (s) => (s.kind === 'global' ? t('licenses.global') : s.kind === 'owner' ? s.owner : s.owner + ' / ' + s.product);
  const data = await api('GET', '/api/license-decisions');
  const status = h('p', { class: 'muted', id: 'licenses-status' });
  const reload = () => licensesPage(ui).catch(fail);

  const revoke = (id) => async () => {
    try { await api('DELETE', '/api/license-decisions/' + encodeURIComponent(id)); await reload(); } catch (e) { fail(e); }
  };
  const exportFile = async () => {
    try {
      const file = await api('GET', '/api/license-decisions/export');
      const a = h('a', { href: URL.createObjectURL(new Blob([JSON.stringify(file, null, 2) + '\n'], { type: 'application/json' })), download: 'license-decisions.json' });
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (e) { fail(e); }
  };
  const input = h('input', { type: 'file', accept: '.json,application/json', id: 'licenses-import', 'aria-label': t('licenses.import') });
  input.addEventListener('change', async () => {
    const f = input.files && input.files[0];
    if (!f) return;
    try {
      const r = await api('POST', '/api/license-decisions/import', JSON.parse(await f.text()));
      await reload();
      document.getElementById('licenses-status').textContent = t('licenses.imported', { recorded: r.recorded, unchanged: r.unchanged });
    } catch (e) { status.textContent = t('error', { m: e.message }); }
  });

  const rows = data.decisions.map((d) => h('tr', { 'data-id': d.id },
    h('td', {}, d.package), h('td', {}, d.versions), h('td', {}, d.expression), h('td', {}, scope(d.scope)),
    h('td', {}, t('licenses.cleared', { who: d.by, date: d.at.slice(0, 10), why: d.reason })),
    h('td', {}, d.until ? d.until : t('licenses.noExpiry')),
    h('td', {}, h('button', { class: 'action', onclick: revoke(d.id) }, t('licenses.revoke')))));
  show(h('div', { class: 'card' },
    h('h1', {}, t('licenses.title')),
    h('p', { class: 'muted' }, t('licenses.hint')),
    h('div', { class: 'row-flex' }, h('button', { class: 'action', onclick: exportFile }, t('licenses.export')), h('label', { for: 'licenses-import' }, t('licenses.import')), input),
    status,
    rows.length === 0 ? h('p', { class: 'muted' }, t('licenses.none')) : h('table', {},
      h('tr', {}, ...['licenses.package', 'licenses.versions', 'licenses.expression', 'licenses.scope', 'licenses.decision', 'licenses.until', 'licenses.actions'].map((k) => h('th', {}, t(k)))),
      ...rows)));
};
