// The dashboard's "what changed" views and nightly details: the changes page (#/changes/<build>,
// against the last succeeded build before it or ?from=<build>), the same as a card on a failed
// build's page (shown first: what changed since the last good night), the license panel's real
// review state, and the schedules page's recent nights (what each waited for, who was told).
// It registers itself in window.SBORKA_PAGES; app.js hands it its helpers.
'use strict';
window.SBORKA_PAGES = window.SBORKA_PAGES || {};

(function () {
  const sizeDelta = (n) => (n > 0 ? '+' : '') + n;

  function changesView(ui, c) {
    const { h, t } = ui;
    const p = c.packages;
    const pkgList = (items, word, id) => items.map((x) => h('li', { 'data-change': word + ':' + x.name }, t(id, { name: x.name, version: x.version })));
    const moved = (items, word, id) => items.map((x) => h('li', { 'data-change': word + ':' + x.name },
      t(id, { name: x.name, from: x.from, to: x.to }),
      x.changelog.length ? h('ul', { class: 'changelog' }, x.changelog.map((e) => h('li', {},
        h('strong', {}, e.version), e.byline ? h('span', { class: 'muted' }, ' · ' + e.byline) : null,
        h('pre', {}, e.changes.join('\n'))))) : null));
    const licenses = c.licenses.changed.map((l) => h('li', {}, t('changes.license', { name: l.name, from: l.from || '—', to: l.to || '—' })));
    const outputs = c.outputs.map((o) => h('li', { 'data-output': o.name }, t('changes.output', { name: o.name, from: o.from === undefined ? '—' : o.from, to: o.to === undefined ? '—' : o.to, delta: sizeDelta(o.delta) })));
    const tests = c.tests.map((x) => h('li', {}, t('changes.test', { name: x.name, from: x.from || '—', to: x.to || '—' }),
      x.bootMsFrom !== undefined || x.bootMsTo !== undefined ? ' · ' + t('changes.boot', { from: x.bootMsFrom === undefined ? '—' : x.bootMsFrom, to: x.bootMsTo === undefined ? '—' : x.bootMsTo }) : null));
    const steps = c.recipe.steps;
    return h('div', { class: 'card changes', 'data-arch': c.arch },
      h('h2', {}, c.arch + ' · ' + t('changes.since', { from: c.from.buildId })),
      h('p', {}, t('changes.summary', { added: p.added.length, removed: p.removed.length, upgraded: p.upgraded.length, downgraded: p.downgraded.length })),
      h('ul', { class: 'package-changes' }, pkgList(p.added, 'added', 'changes.added'), pkgList(p.removed, 'removed', 'changes.removed'),
        moved(p.upgraded, 'upgraded', 'changes.upgraded'), moved(p.downgraded, 'downgraded', 'changes.downgraded')),
      c.licenses.verdict ? h('p', {}, t('changes.verdict', { from: c.licenses.verdict.from || '—', to: c.licenses.verdict.to || '—' })) : null,
      licenses.length ? h('ul', {}, licenses) : null,
      outputs.length ? h('ul', {}, outputs) : null,
      tests.length ? h('ul', {}, tests) : null,
      h('p', { class: 'muted' }, c.recipe.changed
        ? t('changes.recipe', { added: steps.added.join(', ') || '—', removed: steps.removed.join(', ') || '—', changed: steps.changed.join(', ') || '—' })
        : t('changes.recipeSame')));
  }

  async function load(ui, buildId, from) {
    const q = from ? '?from=' + encodeURIComponent(from) : '';
    return ui.api('GET', '/api/builds/' + encodeURIComponent(buildId) + '/changes' + q);
  }

  window.SBORKA_PAGES.changes = async function changesPage(ui, buildId, from) {
    const { h, t, show } = ui;
    const r = await load(ui, buildId, from);
    show(h('h1', {}, t('changes.title', { id: buildId })),
      h('p', {}, h('a', { href: '#/builds/' + encodeURIComponent(buildId) }, buildId), ' ← ', h('a', { href: '#/builds/' + encodeURIComponent(r.from) }, r.from)),
      h('div', { id: 'changes' }, r.changes.map((c) => changesView(ui, c))));
  };

  /** On a failed build's page: what changed since the last good build, first. */
  window.SBORKA_PAGES.changesCard = async function changesCard(ui, buildId) {
    const { h, t } = ui;
    try {
      const r = await load(ui, buildId);
      return h('div', { id: 'changes', class: 'card' }, h('h2', {}, t('changes.sinceGood')), r.changes.map((c) => changesView(ui, c)));
    } catch (e) {
      return h('div', { id: 'changes', class: 'card muted' }, t('changes.none', { m: e.message }));
    }
  };

  /**
   * A variant's license review as it really stands: the verdict, and for a review the
   * license step's state (waiting, approved by whom, refused or cancelled).
   */
  window.SBORKA_PAGES.licenseState = function licenseState(ui, v, detail) {
    const { h, t, badge } = ui;
    if (v.verdict === 'pass') return [badge('succeeded')];
    if (v.verdict === 'fail') return [badge('failed')];
    const variant = detail && detail.variants.find((x) => x.variantId === v.variantId);
    const step = variant && variant.steps.find((s) => s.kind === 'verify-licenses');
    const state = (step && step.state) || v.stepState;
    if (state === 'succeeded' || state === 'cached') {
      const a = step && step.approval;
      return [badge('succeeded'), ' ', h('span', { 'data-review': 'approved' }, a
        ? t('review.approved', { who: a.by || '?', date: (a.at || '').slice(0, 10), why: a.reason || '—' })
        : t('review.approvedAnon'))];
    }
    if (state === 'waiting') return [badge('waiting'), ' ', h('span', { 'data-review': 'waiting' }, t('review.waiting'))];
    if (state === 'failed') return [badge('failed'), ' ', h('span', { 'data-review': 'refused' }, t('review.refused'))];
    return [badge(state || 'pending')];
  };

  /** The schedules page's nights: each night's build, state, what it waited for and who was notified. */
  window.SBORKA_PAGES.nights = function nights(ui, schedules) {
    const { h, t, badge } = ui;
    const rows = [];
    for (const s of schedules) {
      for (const n of s.nights || []) {
        const waits = n.waits.map((w) => (w.open ? t('nights.waits', { what: w.reason, step: w.variantId + '/' + w.step }) : t('nights.waited', { what: w.reason, step: w.variantId + '/' + w.step, who: w.approvedBy || '?' })));
        const told = n.notified.map((x) => t('nights.notified', { owner: x.owner, host: x.host, status: x.status }));
        rows.push(h('tr', { 'data-night': n.buildId },
          h('td', {}, s.product), h('td', {}, n.night),
          h('td', {}, h('a', { href: '#/builds/' + encodeURIComponent(n.buildId) }, n.buildId)), h('td', {}, badge(n.state)),
          h('td', {}, [n.note || '', ...waits].filter(Boolean).join('; ') || '—'), h('td', {}, told.join('; ') || '—'),
          h('td', {}, h('a', { href: '#/changes/' + encodeURIComponent(n.buildId) }, t('changes.link')))));
      }
    }
    if (!rows.length) return null;
    return h('div', { class: 'card' }, h('h2', {}, t('nights.title')), h('table', { id: 'nights' },
      h('thead', {}, h('tr', {}, [t('matrix.product'), t('nights.night'), t('builds.id'), t('builds.state'), t('nights.waitedFor'), t('nights.notifiedCol'), ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, rows)));
  };
})();
