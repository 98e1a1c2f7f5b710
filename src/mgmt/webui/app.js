/* konnektord management web UI: one page, hash routes, no framework (docs/web-ui.md).
 *
 * Every request goes to this origin with the session cookie (HttpOnly, set by POST
 * /ui/session) and the header X-Konn-CSRF carrying the session's CSRF token. Text from the
 * connector is always put into the page with textContent, never as HTML. */
'use strict';

(function () {
  const POLL_MS = 2000;
  const state = { user: null, role: null, csrf: null, since: null, timers: [], leaving: null };
  const app = document.getElementById('app');

  /* ---- small helpers ------------------------------------------------------------------ */

  /* h('div', {class: 'x', onclick: f}, child...) builds an element; strings become text. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function fmtTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  }

  function fmtDuration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), hh = Math.floor((s % 86400) / 3600);
    const mm = Math.floor((s % 3600) / 60), ss = s % 60;
    if (d) return `${d} d ${hh} h ${mm} min`;
    if (hh) return `${hh} h ${mm} min`;
    if (mm) return `${mm} min ${ss} s`;
    return `${ss} s`;
  }

  function fmtValue(v) {
    if (v === null || v === undefined || v === '') return '—';
    if (Array.isArray(v)) return v.map(fmtValue).join(', ');
    if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${fmtValue(x)}`).join(', ');
    if (typeof v === 'boolean') return v ? 'yes' : 'no';
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v)) return fmtTime(v);
    return String(v);
  }

  function errorText(res) {
    const e = res && res.data && res.data.error;
    if (e && e.message) return e.message;
    if (res && res.status === 0) return 'the connector did not answer';
    return `the connector answered ${res ? res.status : '?'}`;
  }

  function isAdminLocal() {
    return state.role === 'Super-Administrator' || state.role === 'Local-Administrator';
  }

  /* ---- API ---------------------------------------------------------------------------- */

  class SessionEnded extends Error {}

  async function api(method, path, body) {
    const headers = { 'X-Konn-CSRF': state.csrf || 'login' };
    const opt = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    let r;
    try {
      r = await fetch(path, opt);
    } catch (e) {
      return { status: 0, ok: false, data: null };
    }
    let data = null;
    try {
      data = await r.json();
    } catch (e) {
      data = null;
    }
    const code = data && data.error && data.error.code;
    if (r.status === 401 && !path.startsWith('/ui/session') &&
        (code === 'session_ended' || code === 'bad_credentials')) {
      sessionEnded('Your session has ended. Please log in again.');
      throw new SessionEnded();
    }
    return { status: r.status, ok: r.ok, data };
  }

  function stopTimers() {
    for (const t of state.timers) clearInterval(t);
    state.timers = [];
  }

  function sessionEnded(message) {
    stopTimers();
    state.user = state.role = state.csrf = null;
    showLogin(message, 'info');
  }

  /* ---- login -------------------------------------------------------------------------- */

  function showLogin(message, kind) {
    stopTimers();
    document.title = 'Log in · konnektord';
    clear(app);
    const err = h('p', { id: 'login-error', class: 'form-message' + (kind ? ' ' + kind : ''), role: 'alert' },
      message || '');
    const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true,
      value: 'admin', 'aria-describedby': 'login-error' });
    const password = h('input', { id: 'login-password', name: 'password', type: 'password',
      autocomplete: 'current-password', required: true, 'aria-describedby': 'login-error' });
    const submit = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, 'Log in');
    let countdown = null;

    async function onSubmit(ev) {
      ev.preventDefault();
      if (countdown) clearInterval(countdown);
      submit.disabled = true;
      err.className = 'form-message';
      err.textContent = 'Checking…';
      const res = await api('POST', '/ui/session', { user: user.value, password: password.value });
      submit.disabled = false;
      if (res.ok) {
        state.user = res.data.user;
        state.role = res.data.role;
        state.csrf = res.data.csrf;
        await loadSince();
        if (!location.hash || location.hash === '#/' || location.hash === '#/login') location.hash = '#/dashboard';
        render();
        return;
      }
      password.value = '';
      password.focus();
      err.className = 'form-message error';
      const e = res.data && res.data.error;
      if (e && e.code === 'locked') {
        let left = e.retry_after_s || 0;
        const tick = () => {
          err.textContent = `The account is locked after repeated failed logins. ` +
            `Try again in ${fmtDuration(left)} (until ${fmtTime(e.locked_until)}).`;
          if (left-- <= 0) {
            clearInterval(countdown);
            err.textContent = 'The lock has ended: you may try again.';
          }
        };
        tick();
        countdown = setInterval(tick, 1000);
      } else if (e && e.code === 'bad_credentials') {
        err.textContent = 'Wrong user name or password.';
      } else {
        err.textContent = 'Login failed: ' + errorText(res);
      }
    }

    app.append(h('main', { id: 'main', class: 'login-page' },
      h('form', { class: 'login-card', id: 'login-form', onsubmit: onSubmit, novalidate: true },
        h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'konnektord'),
        h('h1', {}, 'Management login'),
        h('label', { for: 'login-user' }, 'User name'), user,
        h('label', { for: 'login-password' }, 'Password'), password,
        err, submit,
        h('p', { class: 'hint' }, 'The first password is in DATA/initial-admin-password.'))));
    app.removeAttribute('aria-busy');
    (message ? password : user).focus();
    if (user.value) password.focus();
  }

  /* TIP1-A_4996: what the security log gained since this admin's last logout. */
  async function loadSince() {
    const res = await api('POST', '/api/v1/session');
    state.since = res.ok ? res.data : null;
  }

  async function logout() {
    stopTimers();
    try {
      await api('DELETE', '/api/v1/session'); /* records the logout (TIP1-A_4996) */
      await api('DELETE', '/ui/session');
    } catch (e) {
      /* the session had ended already */
    }
    state.user = state.role = state.csrf = state.since = null;
    location.hash = '#/login';
    showLogin('You have logged out.', 'info');
  }

  /* ---- frame: header, sidebar, main --------------------------------------------------- */

  const PAGES = [
    { hash: '#/dashboard', title: 'Dashboard', render: renderDashboard },
    { hash: '#/log', title: 'Security log', render: renderLog },
    { hash: '#/settings', title: 'Settings', render: renderSettings },
    { hash: '#/infomodel', title: 'Info model', render: renderInfoModel },
    { hash: '#/terminals', title: 'Terminals and cards', render: renderTerminals },
    { hash: '#/updates', title: 'Updates', render: renderUpdates },
    { hash: '#/reset', title: 'Factory reset', render: renderReset },
  ];

  function frame(page) {
    clear(app);
    const nav = h('nav', { class: 'sidebar', 'aria-label': 'Main' },
      h('ul', {}, PAGES.map(p => h('li', {},
        h('a', { href: p.hash, 'aria-current': p === page ? 'page' : null }, p.title)))));
    const main = h('main', { id: 'main', class: 'content', tabindex: '-1' });
    app.append(
      h('header', { class: 'topbar' },
        h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'konnektord'),
        h('div', { class: 'who' },
          h('span', { id: 'who-user' }, state.user), h('span', { class: 'role' }, state.role),
          h('button', { type: 'button', id: 'logout', onclick: logout }, 'Log out'))),
      h('div', { class: 'body' }, nav, main));
    app.removeAttribute('aria-busy');
    return main;
  }

  function pageHeader(main, title, ...extra) {
    const h1 = h('h1', { tabindex: '-1' }, title);
    main.append(h('div', { class: 'page-head' }, h1, ...extra));
    h1.focus({ preventScroll: true });
    return h1;
  }

  function statusLine(id) {
    return h('p', { id, class: 'status-line', role: 'status', 'aria-live': 'polite' });
  }

  function say(el, text, kind) {
    el.className = 'status-line' + (kind ? ' ' + kind : '');
    el.textContent = text;
  }

  function section(title, ...children) {
    return h('section', { class: 'panel' }, h('h2', {}, title), ...children);
  }

  /* A table from rows of objects: columns [{key, label, render?}]. */
  function table(columns, rows, opts) {
    opts = opts || {};
    if (!rows || rows.length === 0) return h('p', { class: 'empty' }, opts.empty || 'Nothing to show.');
    return h('div', { class: 'table-wrap' }, h('table', { class: opts.class || null },
      opts.caption ? h('caption', {}, opts.caption) : null,
      h('thead', {}, h('tr', {}, columns.map(c => h('th', { scope: 'col' }, c.label)))),
      h('tbody', {}, rows.map(r => {
        const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(r) : {},
          columns.map(c => h('td', { 'data-label': c.label }, c.render ? c.render(r) : fmtValue(r[c.key]))));
        return tr;
      }))));
  }

  /* Columns from the keys of the rows, for answers whose shape this page does not know. */
  function genericTable(rows, empty) {
    const keys = [];
    for (const r of rows || []) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
    return table(keys.map(k => ({ key: k, label: k.replace(/_/g, ' ') })), rows, { empty });
  }

  function keyValues(obj, labels) {
    return h('dl', { class: 'kv' }, Object.entries(labels).map(([k, label]) =>
      [h('dt', {}, label), h('dd', { 'data-field': k }, fmtValue(obj[k]))]));
  }

  function sevBadge(sev) {
    return h('span', { class: 'badge sev-' + String(sev || '').toLowerCase() }, sev || '—');
  }

  /* ---- dashboard ---------------------------------------------------------------------- */

  const LEDS = [
    { id: 'power', label: 'Power', colour: 'green' },
    { id: 'system', label: 'System', colour: 'green' },
    { id: 'vpn', label: 'VPN', colour: 'green' },
    { id: 'service', label: 'Service', colour: 'amber' },
  ];
  const LED_WORDS = { on: 'on', off: 'off', blink: 'blinking' };

  function sinceBanner() {
    const s = state.since;
    if (!s) return null;
    const n = s.new_security_entries + (s.at_least ? '+' : '');
    const text = s.last_logout
      ? `Since your last logout (${fmtTime(s.last_logout)}) the security log gained ${n} entries.`
      : `This is your first login: all ${n} entries of the security log are new to you.`;
    return h('div', { class: 'banner', id: 'since-banner' }, text, ' ',
      h('a', { href: '#/log' }, 'Show them highlighted in the security log'));
  }

  function renderDashboard(main) {
    pageHeader(main, 'Dashboard');
    const banner = sinceBanner();
    if (banner) main.append(banner);
    const leds = {};
    const panel = h('div', { class: 'device', role: 'group', 'aria-label': 'Front panel LEDs' },
      h('div', { class: 'device-name' }, 'konnektord'),
      h('div', { class: 'led-row' }, LEDS.map(l => {
        const lamp = h('span', { class: `led led-${l.colour} is-off`, 'aria-hidden': 'true' });
        const word = h('span', { class: 'led-state' }, '…');
        const unit = h('div', { class: 'led-unit', 'data-led': l.id, 'data-state': 'unknown', role: 'img',
          'aria-label': `${l.label} LED: unknown` }, lamp, h('span', { class: 'led-label' }, l.label), word);
        leds[l.id] = { unit, lamp, word, def: l };
        return unit;
      })));
    const facts = h('div', { class: 'facts' });
    const condBox = h('div', { id: 'conditions' });
    const msg = statusLine('dashboard-status');
    main.append(h('div', { class: 'dash-top' }, section('Front panel', panel), section('Device', facts)),
      section('Active error conditions', msg, condBox));

    let lastConditions = '';

    async function refresh() {
      let res;
      try {
        res = await api('GET', '/api/v1/status');
      } catch (e) {
        return;
      }
      if (!res.ok) {
        say(msg, 'The status could not be read: ' + errorText(res), 'error');
        return;
      }
      const st = res.data;
      for (const l of LEDS) {
        const mode = (st.leds && st.leds[l.id]) || 'off';
        const x = leds[l.id];
        x.unit.dataset.state = mode;
        x.unit.setAttribute('aria-label', `${l.label} LED: ${LED_WORDS[mode] || mode}`);
        x.lamp.className = `led led-${l.colour} is-${mode}`;
        x.word.textContent = LED_WORDS[mode] || mode;
      }
      const p = st.product || {};
      clear(facts).append(keyValues({
        product: `${p.name || 'konnektord'} (${p.vendor || ''})`,
        firmware: p.firmware || p.version,
        ptv: p.product_type_version || st.product_type_version,
        features: p.features,
        hostname: st.hostname,
        uptime: fmtDuration(st.uptime_s || 0),
        boot: fmtTime(st.boot_time),
        clock: st.clock ? `${fmtTime(st.clock.now)} (${st.clock.mode})` : '—',
        vpn: st.vpn,
      }, { product: 'Product', firmware: 'Firmware version', ptv: 'Product type version', features: 'Features', hostname: 'Host name',
        uptime: 'Uptime', boot: 'Booted', clock: 'Connector time', vpn: 'TI VPN' }));
      const key = JSON.stringify(st.conditions || []);
      if (key !== lastConditions) {
        lastConditions = key;
        renderConditions(condBox, st.conditions || [], msg, refresh);
      }
    }
    refresh();
    state.timers.push(setInterval(refresh, POLL_MS));
  }

  const SEV_ORDER = { Fatal: 0, Error: 1, Warning: 2, Info: 3 };

  function renderConditions(box, conditions, msg, refresh) {
    conditions = conditions.slice().sort((a, b) =>
      (SEV_ORDER[a.severity] ?? 9) - (SEV_ORDER[b.severity] ?? 9) || a.display.localeCompare(b.display));
    clear(box).append(table([
      { label: 'Severity', render: c => sevBadge(c.severity) },
      { label: 'Condition', render: c => h('code', {}, c.display) },
      { label: 'Type', key: 'type' },
      { label: 'Since', render: c => fmtTime(c.since) },
      { label: 'Parameters', render: c => fmtValue(c.params) },
      { label: 'Reset', render: c => resetCell(c) },
    ], conditions, {
      empty: 'No active error conditions: the connector is in its normal operating state.',
      rowAttrs: c => ({ class: 'sev-row sev-row-' + String(c.severity).toLowerCase(), 'data-condition': c.display }),
    }));

    function resetCell(c) {
      if (c.reset === 'situation') return h('span', { class: 'muted' }, 'ends with its situation');
      if (!isAdminLocal()) return h('span', { class: 'muted' }, 'needs a Local- or Super-Administrator');
      return h('button', { type: 'button', class: 'small', 'data-reset': c.display,
        onclick: async ev => {
          ev.target.disabled = true;
          const res = await api('POST', '/api/v1/conditions/reset', { name: c.name, instance: c.instance || '' });
          if (res.ok) say(msg, `${c.display} was reset.`, 'ok');
          else {
            say(msg, `${c.display} could not be reset: ${errorText(res)}`, 'error');
            ev.target.disabled = false;
          }
          refresh();
        } }, 'Reset');
    }
  }

  /* ---- security log ------------------------------------------------------------------- */

  function renderLog(main) {
    pageHeader(main, 'Security log');
    const f = {
      from: h('input', { id: 'log-from', type: 'datetime-local', step: '1' }),
      to: h('input', { id: 'log-to', type: 'datetime-local', step: '1' }),
      severity: h('select', { id: 'log-severity' }, ['', 'Info', 'Warning', 'Error', 'Fatal'].map(s =>
        h('option', { value: s }, s ? `${s} and worse` : 'any'))),
      topic: h('input', { id: 'log-topic', placeholder: 'e.g. MGM/', autocomplete: 'off' }),
      limit: h('select', { id: 'log-limit' }, [25, 50, 100, 250].map(n =>
        h('option', { value: n, selected: n === 50 }, String(n)))),
      order: h('select', { id: 'log-order' }, h('option', { value: 'newest' }, 'newest first'),
        h('option', { value: 'oldest' }, 'oldest first')),
    };
    const field = (id, label, el) => h('div', { class: 'field' }, h('label', { for: id }, label), el);
    const msg = statusLine('log-status');
    const results = h('div', { id: 'log-results' });
    const pageInfo = h('span', { id: 'log-page', class: 'muted' });
    const prev = h('button', { type: 'button', id: 'log-prev', onclick: () => go(-1) }, '← Newer');
    const next = h('button', { type: 'button', id: 'log-next', onclick: () => go(1) }, 'Older →');
    const cursors = [null];
    let pageNo = 0;

    function query(paged) {
      const q = new URLSearchParams();
      const t = el => el.value ? String(new Date(el.value).getTime()) : null;
      if (t(f.from)) q.set('from', t(f.from));
      if (t(f.to)) q.set('to', t(f.to));
      if (f.severity.value) q.set('severity', f.severity.value);
      if (f.topic.value.trim()) q.set('topic', f.topic.value.trim());
      if (paged) {
        q.set('limit', f.limit.value);
        q.set('order', f.order.value);
        const c = cursors[pageNo];
        if (c !== null) q.set(f.order.value === 'newest' ? 'before' : 'after', c);
      }
      return q.toString();
    }

    async function load() {
      say(msg, 'Loading…');
      const res = await api('GET', '/api/v1/log?' + query(true));
      if (!res.ok) {
        say(msg, 'The log could not be read: ' + errorText(res), 'error');
        return;
      }
      const d = res.data;
      const entries = d.entries || [];
      const newCount = entries.filter(e => e.new).length;
      say(msg, `${entries.length} entries on this page` + (newCount ? `, ${newCount} new since your last logout ` +
        (d.last_logout ? `(${fmtTime(d.last_logout)})` : '(you never logged out)') + ' — highlighted' : '') + '.');
      cursors[pageNo + 1] = d.next;
      prev.textContent = f.order.value === 'newest' ? '← Newer' : '← Earlier';
      next.textContent = f.order.value === 'newest' ? 'Older →' : 'Later →';
      prev.disabled = pageNo === 0;
      next.disabled = d.next === null || d.next === undefined;
      pageInfo.textContent = `Page ${pageNo + 1}`;
      clear(results).append(table([
        { label: 'Seq', key: 'seq' },
        { label: 'Time', render: e => fmtTime(e.time) },
        { label: 'Severity', render: e => sevBadge(e.severity) },
        { label: 'Type', key: 'type' },
        { label: 'Topic', render: e => h('span', {}, h('code', {}, e.topic), e.new ? h('span', { class: 'badge new' }, 'new') : null) },
        { label: 'Parameters', render: e => fmtValue(e.params) },
      ], entries, {
        class: 'log-table', empty: 'No entries match the filter.',
        rowAttrs: e => ({ class: e.new ? 'is-new' : null, 'data-seq': e.seq }),
      }));
    }

    function go(step) {
      pageNo = Math.max(0, pageNo + step);
      load();
    }

    async function exportLog() {
      say(msg, 'Exporting…');
      /* A stream that stalls must not leave the page saying "Exporting…" for ever. */
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 30000);
      let r, blob;
      try {
        r = await fetch('/api/v1/log/export?' + query(false), { headers: { 'X-Konn-CSRF': state.csrf },
          credentials: 'same-origin', cache: 'no-store', signal: abort.signal });
        if (r.ok) blob = await r.blob();
      } catch (e) {
        say(msg, abort.signal.aborted ? 'The export did not finish within 30 s; try again.'
          : 'The export failed: the connector did not answer', 'error');
        return;
      } finally {
        clearTimeout(timer);
      }
      if (!r.ok) {
        say(msg, `The export failed (${r.status})`, 'error');
        return;
      }
      const a = h('a', { href: URL.createObjectURL(blob),
        download: `security-log-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.jsonl` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      say(msg, `Exported ${blob.size} bytes as JSON Lines.`, 'ok');
    }

    main.append(section('Filter',
      h('form', { class: 'filters', id: 'log-filter', onsubmit: ev => { ev.preventDefault(); cursors.length = 1; pageNo = 0; load(); } },
        field('log-from', 'From', f.from), field('log-to', 'To', f.to),
        field('log-severity', 'Severity', f.severity), field('log-topic', 'Topic starts with', f.topic),
        field('log-order', 'Order', f.order), field('log-limit', 'Per page', f.limit),
        h('div', { class: 'actions' },
          h('button', { type: 'submit', class: 'primary' }, 'Apply'),
          h('button', { type: 'button', id: 'log-export', onclick: exportLog }, 'Export (JSON Lines)')))),
      section('Entries', msg, results, h('div', { class: 'pager' }, prev, pageInfo, next)));
    load();
  }

  /* ---- settings ----------------------------------------------------------------------- */

  function rangeText(s) {
    if (s.choices && s.choices.length) return s.choices.join(' | ');
    const unit = s.unit ? ' ' + s.unit : '';
    if (s.min !== undefined && s.max !== undefined && s.min !== null)
      return s.type === 'string' ? `${s.min} to ${s.max} characters` : `${s.min} to ${s.max}${unit}`;
    return '—';
  }

  async function renderSettings(main) {
    pageHeader(main, 'Settings');
    const msg = statusLine('settings-status');
    const search = h('input', { id: 'settings-search', type: 'search', placeholder: 'Filter by name', autocomplete: 'off' });
    const box = h('div', { id: 'settings-table' });
    main.append(section('Parameters',
      h('div', { class: 'field inline' }, h('label', { for: 'settings-search' }, 'Filter'), search), msg, box));
    const res = await api('GET', '/api/v1/settings');
    if (!res.ok) {
      say(msg, 'The settings could not be read: ' + errorText(res), 'error');
      return;
    }
    const list = res.data.settings || [];

    function editor(s) {
      const id = 'set-' + s.name;
      const errId = 'err-' + s.name;
      const allowed = !s.roles || s.roles.includes(state.role);
      const input = s.choices && s.choices.length
        ? h('select', { id, 'aria-describedby': errId, disabled: !allowed },
          s.choices.map(c => h('option', { value: c, selected: c === s.value }, c)))
        : h('input', { id, value: s.value, 'aria-describedby': errId, disabled: !allowed,
          inputmode: s.type === 'int' ? 'numeric' : null });
      const err = h('p', { id: errId, class: 'field-error', role: 'alert' });
      const save = h('button', { type: 'submit', class: 'small', disabled: !allowed }, 'Save');
      const form = h('form', { class: 'setting-edit', onsubmit: async ev => {
        ev.preventDefault();
        save.disabled = true;
        err.textContent = '';
        input.removeAttribute('aria-invalid');
        const r = await api('PUT', '/api/v1/settings/' + encodeURIComponent(s.name), { value: input.value });
        save.disabled = false;
        if (r.ok) {
          s.value = r.data.value;
          input.value = r.data.value;
          say(msg, r.data.changed ? `${s.name} is now ${r.data.value}.` : `${s.name} was already ${r.data.value}.`, 'ok');
        } else {
          input.setAttribute('aria-invalid', 'true');
          err.textContent = errorText(r);
          input.focus();
        }
      } }, h('label', { for: id, class: 'visually-hidden' }, `Value of ${s.name}`), input, save, err,
      allowed ? null : h('p', { class: 'muted' }, `read-only for ${state.role}`));
      return form;
    }

    function draw() {
      const q = search.value.trim().toUpperCase();
      clear(box).append(table([
        { label: 'Name', render: s => h('div', {}, h('code', {}, s.name), h('p', { class: 'doc' }, s.doc || '')) },
        { label: 'Type', key: 'type' },
        { label: 'Allowed', render: s => rangeText(s) },
        { label: 'Default', render: s => fmtValue(s.default) },
        { label: 'Value', render: s => editor(s) },
      ], list.filter(s => !q || s.name.includes(q)), {
        class: 'settings-table', empty: 'No setting matches.', rowAttrs: s => ({ 'data-setting': s.name }),
      }));
    }
    search.addEventListener('input', draw);
    draw();
  }

  /* ---- info model, terminals and cards ------------------------------------------------ */

  async function renderInfoModel(main) {
    pageHeader(main, 'Info model');
    const msg = statusLine('infomodel-status');
    main.append(msg);
    const res = await api('GET', '/api/v1/infomodel');
    if (!res.ok) {
      say(msg, 'The info model could not be read: ' + errorText(res), 'error');
      return;
    }
    const m = res.data;
    const ids = (list, label) => table([{ label, render: x => h('code', {}, x) }], (list || []).map(x => x),
      { empty: 'None.' });
    const rel = [];
    for (const [name, pairs] of Object.entries(m.relations || {}))
      for (const [a, b] of pairs) rel.push({ relation: name, a, b });
    main.append(h('div', { class: 'grid3' },
      section('Mandanten', ids(m.mandants, 'Mandant')),
      section('Client systems', ids(m.client_systems, 'Client system')),
      section('Workplaces', ids(m.workplaces, 'Workplace'))),
    section('Card terminals', table([
      { label: 'Id', render: t => h('code', {}, t.id) }, { label: 'Name', key: 'name' },
      { label: 'Slots', key: 'slots' }, { label: 'Active', key: 'active' },
    ], m.card_terminals, { empty: 'No card terminals.' })),
    section('Relations', table([
      { label: 'Relation', key: 'relation' }, { label: 'From', render: r => h('code', {}, r.a) },
      { label: 'To', render: r => h('code', {}, r.b) },
    ], rel, { empty: 'No relations.' })));
  }

  async function renderTerminals(main) {
    pageHeader(main, 'Terminals and cards');
    const msg = statusLine('terminals-status');
    main.append(msg);
    const [t, c] = await Promise.all([api('GET', '/control/v1/terminals'), api('GET', '/control/v1/cards')]);
    if (!t.ok || !c.ok) {
      say(msg, 'The simulated card terminals could not be read: ' + errorText(t.ok ? c : t), 'error');
      return;
    }
    say(msg, 'Card terminals and cards of the simulated world (read-only).');
    main.append(section('Card terminals', table([
      { label: 'Id', render: x => h('code', {}, x.id) }, { label: 'Name', key: 'name' },
      { label: 'Slots', key: 'slots' }, { label: 'Connected', key: 'connected' },
      { label: 'Active', key: 'active' }, { label: 'Display', key: 'display' },
      { label: 'Cards', render: x => (x.cards || []).map(k => `${k.slot}: ${k.card} (${k.type})`).join(', ') || '—' },
    ], t.data.terminals, { empty: 'No card terminals.' })),
    section('Cards', table([
      { label: 'Name', render: x => h('code', {}, x.name) }, { label: 'Type', key: 'type' },
      { label: 'ICCSN', key: 'iccsn' }, { label: 'Holder', key: 'holder_name' },
      { label: 'Where', render: x => x.where ? `${x.where.ct} slot ${x.where.slot}` : 'not inserted' },
      { label: 'PINs', render: x => (x.pins || []).map(p => `${p.name}: ${p.state} (${p.tries_left} tries)`).join(', ') || '—' },
      { label: 'Expires', render: x => fmtTime(x.expiry) },
    ], c.data.cards, { empty: 'No cards.' })));
  }

  /* ---- updates ------------------------------------------------------------------------ */

  async function renderUpdates(main) {
    pageHeader(main, 'Updates');
    const msg = statusLine('updates-status');
    const box = h('div', { id: 'updates' });
    main.append(msg, box);

    async function post(path, body, done) {
      const r = await api('POST', path, body);
      if (r.status === 404 && r.data && r.data.error && /endpoint/.test(r.data.error.message || ''))
        say(msg, 'The updater is not available in this build.', 'error');
      else if (r.ok) say(msg, done, 'ok');
      else say(msg, errorText(r), 'error');
      draw();
    }

    async function draw() {
      const [st, slots, hist] = await Promise.all([api('GET', '/api/v1/update/status'),
        api('GET', '/api/v1/update/slots'), api('GET', '/api/v1/update/history')]);
      clear(box);
      if (st.status === 404 && slots.status === 404 && hist.status === 404) {
        box.append(h('div', { class: 'notice', id: 'updater-missing' },
          'The updater is not available in this build of konnektord (the connector answers 404 for /api/v1/update).'));
        return;
      }
      if (st.ok) {
        const s = st.data;
        const avail = Array.isArray(s.updates) ? s.updates : (Array.isArray(s.available) ? s.available : []);
        const run = s.running || {};
        box.append(section('Status',
          keyValues({ ...s, fw: run.fw_version, ptv: run.product_type_version, features: run.features },
            { state: 'State', fw: 'Running firmware', ptv: 'Product type version', features: 'Features',
              paused: 'Paused', auto_download: 'Automatic download', auto_update: 'Automatic update',
              last_check: 'Last check', last_result: 'Last result', next_check: 'Next check', ksr_url: 'KSR' }),
          h('div', { class: 'actions' },
            h('button', { type: 'button', id: 'update-check', onclick: () => post('/api/v1/update/check', {}, 'Update check started.') }, 'Check now'),
            s.paused
              ? h('button', { type: 'button', id: 'update-resume', onclick: () => post('/api/v1/update/resume', {}, 'Automatic updates resumed.') }, 'Resume')
              : h('button', { type: 'button', id: 'update-pause', onclick: () => post('/api/v1/update/pause', {}, 'Automatic updates paused.') }, 'Pause'))),
        section('Available updates', table([
          { label: 'Version', render: u => h('code', {}, u.version || u.firmware_version || '—') },
          { label: 'Priority', key: 'priority' }, { label: 'Deadline', render: u => fmtTime(u.deadline) },
          { label: 'Downloaded', render: u => u.downloaded_bytes !== undefined ? `${u.downloaded_bytes} bytes` : fmtValue(u.downloaded) },
          { label: 'Install', render: u => isAdminLocal() ? h('button', { type: 'button', class: 'small',
            onclick: () => post('/api/v1/update/install', { version: u.version }, `Installing ${u.version}…`) }, 'Install') : '—' },
        ], avail, { empty: 'No update available.' })));
      } else if (st.status !== 404) {
        box.append(h('p', { class: 'status-line error' }, 'The update status could not be read: ' + errorText(st)));
      }
      if (slots.ok) {
        const sl = slots.data;
        box.append(section('Firmware slots',
          keyValues(sl, { active: 'Active slot', running: 'Running slot', good: 'Marked good', tries_left: 'Boot tries left',
            update_pending: 'Update pending', last_fallback: 'Last fallback', last_failure: 'Last failure' }),
          genericTable(Array.isArray(sl.slots) ? sl.slots : [], 'No slot information.')));
      }
      if (hist.ok) {
        const list = Array.isArray(hist.data) ? hist.data
          : (Array.isArray(hist.data.history) ? hist.data.history : []);
        box.append(section('History', genericTable(list, 'No update has been installed yet.')));
      }
    }
    draw();
  }

  /* ---- factory reset ------------------------------------------------------------------ */

  const CONFIRM_WORD = 'RESET';

  function renderReset(main) {
    pageHeader(main, 'Factory reset');
    const msg = statusLine('reset-status');
    const box = h('div', { id: 'reset-box' });
    main.append(h('p', { class: 'lead' },
      'Returns the connector to its delivery state (TIP1-A_4820). You will be logged out, and a new ' +
      'initial administrator password is written on the device.'), msg, box);
    const start = h('button', { type: 'button', id: 'reset-prepare', class: 'danger', onclick: prepare },
      'Prepare factory reset…');
    box.append(start);

    async function prepare() {
      start.disabled = true;
      const r = await api('POST', '/api/v1/factory-reset', {});
      if (!r.ok) {
        start.disabled = false;
        if (r.status === 404) say(msg, 'The factory reset is not available in this build (POST /api/v1/factory-reset answers 404).', 'error');
        else if (r.status === 403) say(msg, 'Your account may not reset the connector: ' + errorText(r), 'error');
        else say(msg, errorText(r), 'error');
        return;
      }
      const d = r.data;
      const word = h('input', { id: 'reset-confirm-word', autocomplete: 'off', 'aria-describedby': 'reset-confirm-help' });
      const go = h('button', { type: 'submit', id: 'reset-confirm', class: 'danger', disabled: true }, 'Reset to factory settings');
      const left = h('span', { id: 'reset-expiry' });
      let remaining = d.expires_in_s || 60;
      const t = setInterval(() => {
        remaining--;
        left.textContent = remaining > 0 ? `This confirmation expires in ${remaining} s.` : 'The confirmation has expired: prepare again.';
        if (remaining <= 0) { clearInterval(t); go.disabled = true; }
      }, 1000);
      state.timers.push(t);
      left.textContent = `This confirmation expires in ${remaining} s.`;
      word.addEventListener('input', () => { go.disabled = word.value !== CONFIRM_WORD || remaining <= 0; });
      clear(box).append(h('div', { class: 'grid2' },
        section('Kept', h('ul', { id: 'reset-keeps' }, (d.keeps || []).map(k => h('li', {}, k)))),
        section('Reset to delivery state', h('ul', { id: 'reset-resets' }, (d.resets || []).map(k => h('li', {}, k))))),
      h('form', { class: 'panel danger-zone', onsubmit: async ev => {
        ev.preventDefault();
        if (word.value !== CONFIRM_WORD) return;
        go.disabled = true;
        say(msg, 'Resetting…');
        let res;
        try {
          res = await api('POST', '/api/v1/factory-reset', { confirm_token: d.confirm_token });
        } catch (e) {
          return;
        }
        if (!res.ok) {
          say(msg, 'The reset failed: ' + errorText(res), 'error');
          return;
        }
        clearInterval(t);
        state.user = state.role = state.csrf = null;
        location.hash = '#/login';
        showLogin(`The connector was reset to factory settings in ${res.data.duration_ms} ms. ` +
          `Log in as ${res.data.admin_user || 'admin'} with the new initial password from ${res.data.new_admin_password_file}.`, 'info');
      } },
      h('label', { for: 'reset-confirm-word' }, `Type ${CONFIRM_WORD} to confirm`), word,
      h('p', { id: 'reset-confirm-help', class: 'muted' }, left),
      h('div', { class: 'actions' }, go,
        h('button', { type: 'button', onclick: () => { clearInterval(t); renderRoute(); } }, 'Cancel'))));
      word.focus();
    }
  }

  /* ---- router ------------------------------------------------------------------------- */

  function renderRoute() {
    stopTimers();
    if (!state.user) {
      showLogin();
      return;
    }
    const page = PAGES.find(p => p.hash === location.hash) || PAGES[0];
    document.title = `${page.title} · konnektord`;
    const main = frame(page);
    Promise.resolve(page.render(main)).catch(e => {
      if (!(e instanceof SessionEnded)) throw e;
    });
  }

  function render() {
    renderRoute();
  }

  window.addEventListener('hashchange', () => {
    if (state.user) renderRoute();
  });
  window.addEventListener('unhandledrejection', ev => {
    if (ev.reason instanceof SessionEnded) ev.preventDefault();
  });

  /* A reload keeps the session (cookie): ask who we are. */
  (async function start() {
    const res = await api('GET', '/ui/session');
    if (res.ok) {
      state.user = res.data.user;
      state.role = res.data.role;
      state.csrf = res.data.csrf;
      render();
    } else {
      showLogin();
    }
  })();
})();
