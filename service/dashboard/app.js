// The sborka dashboard: plain JavaScript, no build step, served by `sborka serve` itself.
// Every text goes in with textContent (never innerHTML), so nothing a recipe, a log or a
// build id holds can run as markup. The token stays in this browser (localStorage) and
// goes out only in the Authorization header; live views read server-sent events through
// fetch, which (unlike EventSource) can send that header.
'use strict';
(function () {
  const M = window.SBORKA_MESSAGES;
  const store = window.localStorage;
  let lang = store.getItem('sborka.lang') || (navigator.language || 'ru').slice(0, 2);
  if (!window.SBORKA_LANGS.includes(lang)) lang = window.SBORKA_LANGS[0];
  let me = null;
  let liveAborts = [];

  function t(key, vars) {
    // Every entry has every language (i18n.test.ts); the bare id shows only for an unknown id.
    const m = Object.prototype.hasOwnProperty.call(M, key) ? M[key] : null;
    const s = m ? m[lang] : key;
    return s.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? String(vars[k]) : ''));
  }
  const st = (s) => t('state.' + s);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const badge = (state) => h('span', { class: 'badge s-' + state, 'data-state': state }, st(state));

  function token() { return store.getItem('sborka.token'); }

  async function api(method, url, body) {
    const res = await fetch(url, {
      method,
      headers: Object.assign({ authorization: 'Bearer ' + token() }, body !== undefined ? { 'content-type': 'application/json' } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    if (res.status === 401) { logout(); throw new Error(t('login.bad')); }
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) {
      const err = new Error((data && data.message) || res.statusText);
      err.status = res.status; err.data = data;
      throw err;
    }
    return data;
  }

  /** Server-sent events over fetch; calls onEvent(name, data) until the stream ends or is aborted. */
  async function sse(url, onEvent) {
    const ctl = new AbortController();
    liveAborts.push(ctl);
    try {
      const res = await fetch(url, { headers: { authorization: 'Bearer ' + token(), accept: 'text/event-stream' }, signal: ctl.signal });
      if (!res.ok || !res.body) return;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
          let name = 'message'; const data = [];
          for (const line of chunk.split('\n')) {
            if (line.startsWith('event: ')) name = line.slice(7);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length) onEvent(name, JSON.parse(data.join('\n')));
        }
      }
    } catch (e) {
      if (e.name === 'AbortError') return 'aborted';
      console.warn('stream ended', e);
    }
    return 'ended';
  }
  function stopLive() { for (const c of liveAborts) c.abort(); liveAborts = []; }

  function fmtDuration(ms) {
    if (ms === undefined || ms === null) return '—';
    const s = Math.round(ms / 1000);
    const u = lang === 'ru' ? ['ч', 'мин', 'с'] : ['h', 'min', 's'];
    if (s < 60) return s + ' ' + u[2];
    if (s < 3600) return Math.floor(s / 60) + ' ' + u[1] + ' ' + (s % 60) + ' ' + u[2];
    return Math.floor(s / 3600) + ' ' + u[0] + ' ' + Math.floor((s % 3600) / 60) + ' ' + u[1];
  }
  const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(lang === 'ru' ? 'ru-RU' : 'en-GB') : '—');
  const fmtSize = (n) => (n === undefined ? '' : n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : (n / 1048576).toFixed(1) + ' MiB');
  const main = () => document.getElementById('main');
  function show(...nodes) { main().replaceChildren(...nodes); }
  function fail(e) { show(h('div', { class: 'card error' }, t('error', { m: e.message }))); }

  // ---------- chrome ----------
  function renderChrome() {
    document.documentElement.lang = lang;
    document.getElementById('lang').value = lang;
    const out = document.getElementById('logout');
    out.textContent = t('logout');
    out.hidden = !me;
    document.getElementById('who').textContent = me ? me.name + ' · ' + me.role : '';
    const nav = document.getElementById('nav');
    const route = location.hash.split('/')[1] || 'matrix';
    const links = me ? [['matrix', 'nav.matrix'], ['builds', 'nav.builds']]
      .concat(me.permissions.submit ? [['recipes', 'nav.recipes']] : [])
      .concat([['schedules', 'nav.schedules']])
      .concat(me.permissions.decisions ? [['licenses', 'nav.licenses']] : []) : [];
    nav.replaceChildren(...links.map(([r, k]) => h('a', { href: '#/' + r, class: route === r ? 'active' : '' }, t(k))));
  }

  function logout() {
    store.removeItem('sborka.token');
    me = null;
    stopLive();
    route();
  }

  function loginPage(message) {
    const input = h('input', { type: 'password', id: 'token', size: 60, autocomplete: 'off', 'aria-label': t('login.token') });
    const form = h('form', { class: 'card', id: 'login' },
      h('h1', {}, t('login.title')),
      h('div', { class: 'row-flex' }, h('label', { for: 'token' }, t('login.token')), input, h('button', { class: 'primary', type: 'submit' }, t('login.submit'))),
      h('p', { class: 'muted' }, t('login.hint')),
      message ? h('p', { class: 'error' }, message) : null);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      store.setItem('sborka.token', input.value.trim());
      try {
        me = await api('GET', '/api/me');
        if (!location.hash || location.hash === '#/') location.hash = me.permissions.submit && me.role.startsWith('partner:') ? '#/recipes' : '#/matrix';
        route();
      } catch (e) { store.removeItem('sborka.token'); loginPage(t('login.bad')); }
    });
    show(form);
    renderChrome();
  }

  // ---------- matrix ----------
  async function matrixPage(params) {
    const scope = params.get('scope') || 'nightly';
    const m = await api('GET', '/api/matrix?scope=' + scope);
    const toggle = h('div', { class: 'row-flex' },
      h('a', { href: '#/matrix?scope=nightly', class: scope === 'nightly' ? 'ok' : '' }, t('matrix.nightly')), ' · ',
      h('a', { href: '#/matrix?scope=all', class: scope === 'all' ? 'ok' : '' }, t('matrix.all')));
    if (!m.products.length) {
      return show(h('h1', {}, t('matrix.title')), toggle, h('div', { class: 'card muted' },
        scope === 'nightly' ? h('a', { href: '#/matrix?scope=all' }, t('matrix.emptyNightly')) : t('matrix.empty')));
    }
    const now = Date.now();
    const table = h('table', { class: 'matrix', id: 'matrix' },
      h('thead', {}, h('tr', {}, h('th', {}, t('matrix.product')), m.arches.map((a) => h('th', {}, a)))),
      h('tbody', {}, m.products.map((p) => h('tr', {},
        h('td', {}, h('strong', {}, p.product), h('div', { class: 'muted' }, p.owner)),
        m.arches.map((a) => {
          const c = p.cells[a];
          if (!c) return h('td', { class: 'cell muted' }, '—');
          const l = c.latest;
          return h('td', { class: 'cell' }, h('a', { class: 'cell-link c-' + l.state, href: '#/builds/' + encodeURIComponent(l.buildId), 'data-cell': p.product + '/' + a },
            badge(l.state),
            h('div', { class: 'muted' }, t('matrix.ago', { age: fmtDuration(now - Date.parse(l.endedAt || l.startedAt)) })),
            h('div', { class: 'muted' }, t('matrix.duration', { d: fmtDuration(l.durationMs) })),
            l.bootTest && l.bootTest !== 'none' ? h('div', {}, t('matrix.boot', { state: st(l.bootTest) })) : null,
            h('div', { class: 'strip', title: c.history.length + '' }, c.history.slice().reverse().map((r) => h('a', { href: '#/changes/' + encodeURIComponent(r.buildId), 'data-changes': r.buildId }, h('span', { class: 's-' + r.state, title: r.buildId + ': ' + st(r.state) }))))));
        })))));
    show(h('h1', {}, t('matrix.title')), toggle, table);
  }

  // ---------- builds ----------
  async function buildsPage(params) {
    const q = new URLSearchParams();
    for (const k of ['product', 'owner', 'arch', 'state']) if (params.get(k)) q.set(k, params.get(k));
    const data = await api('GET', '/api/builds?' + q.toString());
    const field = (k, label) => h('input', { type: 'text', name: k, placeholder: label, value: params.get(k) || '' });
    const stateSel = h('select', { class: 'f', name: 'state' }, h('option', { value: '' }, t('builds.any')),
      ['running', 'succeeded', 'failed', 'cancelled'].map((s) => h('option', { value: s, selected: params.get('state') === s }, st(s))));
    const form = h('form', { class: 'row-flex' }, field('product', t('builds.product')), field('owner', t('builds.owner')), field('arch', t('builds.arch')), stateSel, h('button', { class: 'action', type: 'submit' }, t('builds.filter')));
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = new URLSearchParams();
      for (const el of form.elements) if (el.name && el.value) p.set(el.name, el.value);
      location.hash = '#/builds?' + p.toString();
    });
    const rows = data.builds.map((b) => h('tr', {},
      h('td', {}, h('a', { href: '#/builds/' + encodeURIComponent(b.buildId) }, b.buildId)),
      h('td', {}, b.product), h('td', {}, b.owner), h('td', {}, b.arches.join(', ')), h('td', {}, badge(b.state)),
      h('td', {}, fmtTime(b.startedAt)), h('td', {}, fmtDuration(b.durationMs))));
    show(h('h1', {}, t('builds.title')), form, rows.length ? h('table', { id: 'builds' },
      h('thead', {}, h('tr', {}, [t('builds.id'), t('builds.product'), t('builds.owner'), t('builds.arch'), t('builds.state'), t('builds.started'), t('builds.duration')].map((x) => h('th', {}, x)))),
      h('tbody', {}, rows)) : h('div', { class: 'card muted' }, t('builds.none')));
  }

  function gantt(variant) {
    const steps = variant.steps;
    const starts = steps.map((s) => (s.startedAt ? Date.parse(s.startedAt) : NaN)).filter((x) => !isNaN(x));
    const t0 = Math.min(Date.parse(variant.startedAt), ...starts);
    const ends = steps.map((s) => (s.endedAt ? Date.parse(s.endedAt) : s.startedAt ? Date.now() : NaN)).filter((x) => !isNaN(x));
    const t1 = Math.max(t0 + 1000, variant.endedAt ? Date.parse(variant.endedAt) : Date.now(), ...ends);
    const span = t1 - t0;
    return h('div', { class: 'gantt', 'data-variant': variant.variantId }, steps.map((s) => {
      const bar = h('div', { class: 'bar s-' + s.state, title: s.id + ': ' + st(s.state) });
      if (s.startedAt) {
        const a = Date.parse(s.startedAt) - t0;
        const b = (s.endedAt ? Date.parse(s.endedAt) : Date.now()) - t0;
        bar.style.left = (100 * a / span).toFixed(2) + '%';
        bar.style.width = Math.max(0.4, 100 * (b - a) / span).toFixed(2) + '%';
      } else { bar.style.left = '0'; bar.style.width = '0'; }
      const extra = [s.state === 'cached' ? t('build.cached') : '', s.attempt > 1 ? '×' + s.attempt : ''].filter(Boolean).join(' ');
      return h('div', { class: 'row' }, h('span', { class: 'label', title: s.title || s.id }, s.id), h('div', { class: 'track' }, bar),
        h('span', { class: 'dur' }, fmtDuration(s.durationMs) + (extra ? ' · ' + extra : '')));
    }));
  }

  async function buildPage(id) {
    const root = h('div', { id: 'build' });
    show(root);
    let current = null;
    let selected = null;
    const logBox = h('pre', { class: 'log', id: 'log' });
    const logTitle = h('h2', {}, t('build.log'));
    const lic = h('div', { class: 'card', id: 'licenses' }, t('loading'));
    const arts = h('div', { class: 'card', id: 'artifacts' }, t('loading'));
    const head = h('div', { class: 'card', id: 'build-head' });
    const body = h('div', {});
    const msg = h('div', { id: 'action-message', class: 'muted' });
    root.append(h('h1', {}, t('build.title', { id })), head, msg, body,
      h('div', { class: 'card' }, logTitle, h('p', { class: 'muted', id: 'log-hint' }, t('build.chooseStep')), logBox),
      h('div', { class: 'grid2' }, h('div', {}, h('h2', {}, t('build.licenses')), lic), h('div', {}, h('h2', {}, t('build.artifacts')), arts)));

    async function followLog(variantId, stepId) {
      selected = variantId + '/' + stepId;
      stopLive();
      logBox.textContent = '';
      logTitle.textContent = t('build.logOf', { step: stepId }) + ' · ' + t('build.live');
      document.getElementById('log-hint').textContent = variantId;
      const base = '/api/builds/' + encodeURIComponent(id) + '/logs/' + encodeURIComponent(variantId) + '/' + encodeURIComponent(stepId);
      sse(base + '/follow', (ev, data) => { if (ev === 'log') { logBox.textContent += data.text; logBox.scrollTop = logBox.scrollHeight; } });
      liveStatus();
    }

    function renderHead(d) {
      const p = d.product;
      const buttons = d.actions.map((a) => h('button', {
        class: 'action', 'data-action': a,
        onclick: async () => {
          if (!window.confirm(t('action.confirm', { a: t('action.' + a) }))) return;
          try {
            const waiting = d.variants.find((v) => v.state === 'waiting');
            await api('POST', '/api/builds/' + encodeURIComponent(id) + '/' + a, a === 'cancel' || a === 'resume' ? {} : { variant: waiting && waiting.variantId });
            msg.textContent = t('action.done', { a: t('action.' + a) });
            if (a === 'resume') setTimeout(() => buildPage(id), 500);
          } catch (e) { msg.textContent = t('error', { m: e.message }); }
        },
      }, t('action.' + a)));
      head.replaceChildren(...[
        h('div', { class: 'row-flex' }, h('span', { id: 'build-state', 'data-state': p.state }, badge(p.state)), h('strong', {}, p.product),
          h('span', { class: 'muted' }, t('build.owner') + ': ' + p.owner), h('span', { class: 'muted' }, t('build.started') + ': ' + fmtTime(p.startedAt)),
          p.endedAt ? h('span', { class: 'muted' }, t('build.ended') + ': ' + fmtTime(p.endedAt)) : null),
        buttons.length ? h('div', { class: 'row-flex' }, buttons) : null,
        p.warnings.length ? h('div', { class: 'muted' }, t('build.warnings') + ': ' + p.warnings.join('; ')) : null].filter(Boolean));
    }

    function renderVariants(d) {
      body.replaceChildren(...d.variants.map((v) => h('div', { class: 'card variant', 'data-variant': v.variantId },
        h('div', { class: 'row-flex' }, h('strong', {}, v.variantId), badge(v.state), h('span', { class: 'muted' }, v.arch),
          v.waiting.length ? h('span', { class: 'error' }, t('build.waiting', { step: v.waiting.map((w) => w.step).join(', ') })) : null),
        v.error ? h('div', { class: 'error' }, v.error) : null,
        h('h2', {}, t('build.timeline')), gantt(v),
        h('table', { class: 'steps' }, h('thead', {}, h('tr', {}, [t('build.step'), t('build.kind'), t('builds.state'), t('builds.duration'), t('build.attempts'), ''].map((x) => h('th', {}, x)))),
          h('tbody', {}, v.steps.map((s) => h('tr', { 'data-step': s.id },
            h('td', {}, s.id, s.title ? h('div', { class: 'muted' }, s.title) : null), h('td', {}, s.kind), h('td', {}, badge(s.state)),
            h('td', {}, fmtDuration(s.durationMs)), h('td', {}, String(s.attempt) + (s.activityAttempt ? ' (' + s.activityAttempt + ')' : '')),
            h('td', {}, s.logPath ? h('button', { class: 'action', 'data-log': s.id, onclick: () => followLog(v.variantId, s.id) }, t('build.log')) : null),
          )))))));
    }

    async function renderLicenses() {
      try {
        const r = await api('GET', '/api/builds/' + encodeURIComponent(id) + '/licenses');
        lic.replaceChildren(...r.variants.map((v) => v.present
          ? h('div', { 'data-license': v.variantId }, h('strong', {}, v.variantId), ' ', ...window.SBORKA_PAGES.licenseState({ h, t, badge }, v, current),
            h('div', {}, t('build.verdict', { v: v.verdict })),
            v.report && v.report.totals ? h('div', { class: 'muted' }, t('build.packages', { n: v.report.totals.packages })) : null)
          : h('div', { 'data-license': v.variantId, class: 'muted no-license' }, h('strong', {}, v.variantId), ': ',
            t('build.noLicense', { reason: v.reason === 'the plan checks no licenses' ? t('reason.noCheck') : t('reason.notYet') }))));
      } catch (e) { lic.textContent = t('error', { m: e.message }); }
    }

    async function renderArtifacts() {
      try {
        const r = await api('GET', '/api/builds/' + encodeURIComponent(id) + '/artifacts');
        if (!r.artifacts.length) { arts.textContent = t('build.noArtifacts'); return; }
        arts.replaceChildren(h('table', {}, h('tbody', {}, r.artifacts.map((a) => h('tr', { 'data-artifact': a.name },
          h('td', {}, h('strong', {}, a.name), h('div', { class: 'muted' }, a.variantId + ' · ' + a.format)),
          h('td', {}, a.available ? h('code', { title: 'sha256' }, a.sha256.slice(0, 16) + '…') : h('span', { class: 'muted' }, t('build.notYet')), h('div', { class: 'muted' }, fmtSize(a.size))),
          h('td', {}, a.available ? h('button', {
            class: 'action', 'data-download': a.name,
            onclick: async () => {
              const link = await api('GET', a.url + '/link');
              const anchor = h('a', { href: link.url, download: '' });
              document.body.append(anchor); anchor.click(); anchor.remove();
            },
          }, t('build.download')) : null)))))); 
      } catch (e) { arts.textContent = t('error', { m: e.message }); }
    }

    let changesShown = false;
    function apply(d) {
      const wasRunning = current && current.product.state === 'running';
      current = d;
      // A failed build: what changed since the last good one comes first (changes.js).
      if (d.product.state === 'failed' && !changesShown) { changesShown = true; window.SBORKA_PAGES.changesCard({ h, t, api }, id).then((card) => head.after(card)); }
      renderHead(d);
      renderVariants(d);
      if (!wasRunning || d.product.state !== 'running') { renderLicenses(); renderArtifacts(); }
    }

    function liveStatus() {
      let ended = false;
      sse('/api/builds/' + encodeURIComponent(id) + '/events', (ev, data) => {
        if (ev === 'status') apply(data);
        if (ev === 'end') { ended = true; renderLicenses(); renderArtifacts(); }
      }).then((how) => {
        if (how === 'aborted') return;
        // A stream cut short (a proxy, a restart): read the build again and follow on while it runs.
        if (!ended && location.hash === '#/builds/' + encodeURIComponent(id)) {
          setTimeout(async () => {
            try {
              const d = await api('GET', '/api/builds/' + encodeURIComponent(id));
              apply(d);
              if (d.product.state === 'running') liveStatus();
            } catch (e) { msg.textContent = t('error', { m: e.message }); }
          }, 1000);
        }
      });
    }

    try {
      apply(await api('GET', '/api/builds/' + encodeURIComponent(id)));
      if (current.product.state === 'running') liveStatus();
      if (selected === null) {
        const failedStep = current.variants.flatMap((v) => v.steps.filter((s) => s.state === 'failed' || s.state === 'waiting').map((s) => [v.variantId, s.id]))[0];
        if (failedStep) followLog(failedStep[0], failedStep[1]);
      }
    } catch (e) { fail(e); }
  }

  // ---------- recipes (the partner page) ----------
  async function recipesPage() {
    const name = h('input', { type: 'text', id: 'recipe-name', value: store.getItem('sborka.recipeName') || 'my-variant.sborka', size: 30 });
    const text = h('textarea', { id: 'recipe-text', rows: 18, spellcheck: 'false' }, store.getItem('sborka.recipeText') || '');
    const file = h('input', { type: 'file', id: 'recipe-file', accept: '.sborka,text/plain' });
    const diags = h('div', { id: 'diagnostics' });
    const products = h('div', { id: 'recipe-products' });
    const result = h('div', { id: 'recipe-result' });
    const stored = h('div', { id: 'stored-recipes' }, t('loading'));
    const planText = h('textarea', { id: 'plan-text', rows: 8, spellcheck: 'false' });
    const planResult = h('div', { id: 'plan-result' });
    file.addEventListener('change', async () => {
      const f = file.files[0];
      if (!f) return;
      name.value = f.name.toLowerCase();
      text.value = await f.text();
    });

    function renderValidation(v) {
      const errors = v.diagnostics.filter((d) => d.severity === 'error').length;
      diags.replaceChildren(
        errors ? h('div', { class: 'error', id: 'diag-summary' }, t('recipes.errors', { n: errors })) : h('div', { class: 'ok', id: 'diag-summary' }, t('recipes.ok')),
        ...v.diagnostics.map((d) => {
          const line = (text.value.split('\n')[d.line - 1] || '');
          return h('div', { class: 'diag ' + d.severity, 'data-code': d.code, 'data-line': d.line },
            d.file + ':' + d.line + ':' + d.col + ': ' + d.severity + '[' + d.code + ']: ' + d.message + '\n' +
            d.line + ' | ' + line + '\n' + ' '.repeat(String(d.line).length) + ' | ' + ' '.repeat(Math.max(0, d.col - 1)) + '^'.repeat(Math.max(1, Math.min(d.length || 1, line.length - d.col + 1))) +
            (d.hint ? '\n' + t('recipes.hint', { h: d.hint }) : ''));
        }));
      products.replaceChildren(...(v.products.length ? [h('h2', {}, t('recipes.products')), h('ul', {}, v.products.map((p) =>
        h('li', {}, h('strong', {}, p.name), ' ', h('span', { class: 'muted' }, [p.variantOf ? '← ' + p.variantOf : '', p.toolchain, p.arches.join(', '), p.owner].filter(Boolean).join(' · ')))))] : []));
    }
    const remember = () => { store.setItem('sborka.recipeName', name.value); store.setItem('sborka.recipeText', text.value); };
    const check = async () => {
      remember();
      try { renderValidation(await api('POST', '/api/recipes/validate', { name: name.value, text: text.value })); }
      catch (e) { diags.replaceChildren(h('div', { class: 'error' }, t('error', { m: e.message }) + issuesText(e))); }
    };
    const save = async () => {
      remember();
      try {
        const r = await api('PUT', '/api/recipes/' + encodeURIComponent(name.value), { text: text.value });
        renderValidation(r.validation);
        result.replaceChildren(h('span', { class: 'ok' }, t('recipes.saved', { name: r.name })));
        loadStored();
      } catch (e) {
        if (e.data && e.data.details) renderValidation(e.data.details);
        result.replaceChildren(h('span', { class: 'error' }, t('error', { m: e.message }) + issuesText(e)));
      }
    };
    const start = async () => {
      await save();
      try {
        const b = await api('POST', '/api/builds', { recipe: name.value });
        result.replaceChildren(h('span', { class: 'ok' }, t('recipes.started', { id: b.buildId })), ' ', h('a', { href: '#/builds/' + encodeURIComponent(b.buildId) }, t('recipes.open')));
      } catch (e) { result.replaceChildren(h('span', { class: 'error' }, t('error', { m: e.message }) + issuesText(e))); }
    };
    const startPlan = async () => {
      let plan;
      try { plan = JSON.parse(planText.value); } catch (e) { planResult.replaceChildren(h('span', { class: 'error' }, t('error', { m: e.message }))); return; }
      try {
        const b = await api('POST', '/api/builds', { plan });
        planResult.replaceChildren(h('span', { class: 'ok' }, t('recipes.started', { id: b.buildId })), ' ', h('a', { id: 'open-started', href: '#/builds/' + encodeURIComponent(b.buildId) }, t('recipes.open')));
      } catch (e) { planResult.replaceChildren(h('span', { class: 'error' }, t('error', { m: e.message }) + issuesText(e))); }
    };
    async function loadStored() {
      try {
        const r = await api('GET', '/api/recipes');
        stored.replaceChildren(r.recipes.length ? h('ul', {}, r.recipes.map((x) => h('li', {}, h('a', {
          href: '#/recipes', onclick: async (ev) => {
            ev.preventDefault();
            const full = await api('GET', '/api/recipes/' + encodeURIComponent(x.name));
            name.value = full.name; text.value = full.text; renderValidation(full.validation);
          },
        }, x.name), ' ', h('span', { class: 'muted' }, fmtTime(x.updatedAt))))) : h('span', { class: 'muted' }, t('recipes.none')));
      } catch (e) { stored.textContent = t('error', { m: e.message }); }
    }
    show(h('h1', {}, t('recipes.title')),
      h('div', { class: 'card' },
        h('div', { class: 'row-flex' }, h('label', { for: 'recipe-name' }, t('recipes.name')), name, h('label', { for: 'recipe-file' }, t('recipes.upload')), file),
        h('label', { for: 'recipe-text' }, t('recipes.text')), text,
        h('div', { class: 'row-flex' },
          h('button', { class: 'action', id: 'check', onclick: check }, t('recipes.check')),
          h('button', { class: 'action', id: 'save', onclick: save }, t('recipes.save')),
          h('button', { class: 'primary', id: 'start', onclick: start }, t('recipes.start'))),
        result, diags, products),
      h('div', { class: 'grid2' },
        h('div', { class: 'card' }, h('h2', {}, t('recipes.stored')), stored),
        h('div', { class: 'card' }, h('h2', {}, t('recipes.plan')), h('p', { class: 'muted' }, t('recipes.planHint')), planText,
          h('div', { class: 'row-flex' }, h('button', { class: 'action', id: 'start-plan', onclick: startPlan }, t('recipes.startPlan'))), planResult)));
    loadStored();
  }
  function issuesText(e) {
    return e.data && e.data.issues ? '\n' + e.data.issues.map((i) => i.path + ': ' + i.message).join('\n') : '';
  }

  // ---------- schedules ----------
  async function schedulesPage() {
    const r = await api('GET', '/api/schedules');
    const manage = me.permissions.schedules;
    const act = (id, what) => async () => {
      try { await api('POST', '/api/schedules/' + encodeURIComponent(id) + '/' + what, {}); schedulesPage(); } catch (e) { fail(e); }
    };
    show(h('h1', {}, t('schedules.title')), r.schedules.length ? h('table', { id: 'schedules' },
      h('thead', {}, h('tr', {}, [t('matrix.product'), t('builds.owner'), t('schedules.cron'), t('builds.state'), t('schedules.next'), t('schedules.last'), ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, r.schedules.map((s) => h('tr', {},
        h('td', {}, s.product), h('td', {}, s.owner), h('td', {}, h('code', {}, s.cron)),
        h('td', {}, s.paused ? t('schedules.paused') : t('schedules.active')), h('td', {}, fmtTime(s.nextRun)),
        h('td', {}, s.lastRun ? h('a', { href: '#/builds/' + encodeURIComponent(s.lastRun) }, s.lastRun) : '—'),
        h('td', {}, manage ? [
          h('button', { class: 'action', onclick: act(s.scheduleId, s.paused ? 'unpause' : 'pause') }, s.paused ? t('schedules.unpause') : t('schedules.pause')),
          h('button', { class: 'action', onclick: act(s.scheduleId, 'trigger') }, t('schedules.trigger'))] : null)))))
      : h('div', { class: 'card muted' }, t('schedules.none')), window.SBORKA_PAGES.nights({ h, t, badge }, r.schedules));
  }

  // ---------- routing ----------
  async function route() {
    stopLive();
    if (!token()) return loginPage();
    if (!me) {
      try { me = await api('GET', '/api/me'); } catch (e) { return loginPage(e.message); }
    }
    renderChrome();
    const [path, qs] = location.hash.slice(1).split('?');
    const parts = (path || '/matrix').split('/').filter(Boolean);
    const params = new URLSearchParams(qs || '');
    show(h('div', { class: 'muted' }, t('loading')));
    try {
      if (parts[0] === 'builds' && parts[1]) await buildPage(decodeURIComponent(parts[1]));
      else if (parts[0] === 'builds') await buildsPage(params);
      else if (parts[0] === 'recipes') await recipesPage();
      else if (parts[0] === 'schedules') await schedulesPage();
      else if (parts[0] === 'changes' && parts[1]) await window.SBORKA_PAGES.changes({ h, t, api, show, badge }, decodeURIComponent(parts[1]), params.get('from'));
      else if (parts[0] === 'licenses' && window.SBORKA_PAGES && window.SBORKA_PAGES.licenses) await window.SBORKA_PAGES.licenses({ h, t, api, show, fail });
      else await matrixPage(params);
    } catch (e) { fail(e); }
  }

  document.getElementById('lang').addEventListener('change', (ev) => {
    lang = ev.target.value;
    store.setItem('sborka.lang', lang);
    route();
  });
  document.getElementById('logout').addEventListener('click', logout);
  window.addEventListener('hashchange', route);
  route();
})();
