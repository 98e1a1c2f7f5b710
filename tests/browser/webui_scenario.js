/* The web UI scenario of issue #7 (item 3), run by test_webui.py against a konnektord it
 * started: playwright-core drives Debian's chromium headless through the management web UI
 * while the control API changes the simulated world underneath.
 *
 * Environment: KONN_URL (https://127.0.0.1:PORT), KONN_PASSWORD (the initial admin password),
 * KONN_CACERT (the management certificate, for the control API calls made from here),
 * KONN_ARTEFACTS (screenshots go there), KONN_TIMEOUT_FACTOR, KONN_CHROMIUM (default
 * /usr/bin/chromium).
 *
 * Prints "ok STEP" or "skip STEP: why" per step; exits 1 on the first failure, after a
 * screenshot failure.png. */
'use strict';

const fs = require('fs');
const https = require('https');
const path = require('path');
const { chromium } = require('playwright-core');

const URL_ = process.env.KONN_URL;
const PASSWORD = process.env.KONN_PASSWORD;
const CA = fs.readFileSync(process.env.KONN_CACERT);
const ARTEFACTS = process.env.KONN_ARTEFACTS || path.join(__dirname, 'artefacts');
const FACTOR = Number(process.env.KONN_TIMEOUT_FACTOR || '1');
const CHROMIUM = process.env.KONN_CHROMIUM || '/usr/bin/chromium';
const WAIT = 5000 * FACTOR;

function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

/* The management and control APIs with HTTP Basic, as konctl calls them. */
function call(method, p, body, user = 'admin', password = PASSWORD) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = https.request(URL_ + p, {
      method, ca: CA, headers: {
        Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'),
        ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}),
      },
    }, res => {
      let text = '';
      res.on('data', c => { text += c; });
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch (e) { json = { raw: text }; }
        resolve({ status: res.statusCode, data: json });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

async function control(method, p, body) {
  const r = await call(method, p, body);
  assert(r.status >= 200 && r.status < 300, `${method} ${p} answered ${r.status}: ${JSON.stringify(r.data)}`);
  return r.data;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTEFACTS, name + '.png'), fullPage: true });
}

async function led(page, id, mode) {
  await page.waitForSelector(`[data-led="${id}"][data-state="${mode}"]`, { timeout: WAIT });
}

async function login(page, user, password) {
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
}

const steps = [];
function step(name, fn) {
  steps.push({ name, fn });
}

/* ---- the scenario ----------------------------------------------------------------------- */

step('security headers on the page', async ({ page }) => {
  const res = await page.goto(URL_ + '/');
  const hd = res.headers();
  assert(/default-src 'self'/.test(hd['content-security-policy'] || ''), 'CSP default-src self');
  assert(/frame-ancestors 'none'/.test(hd['content-security-policy']), 'CSP frame-ancestors');
  assert(hd['x-frame-options'] === 'DENY', 'X-Frame-Options DENY');
  assert(hd['x-content-type-options'] === 'nosniff', 'nosniff');
  assert(/text\/html/.test(hd['content-type']), 'Content-Type text/html');
  await page.waitForSelector('#login-form');
  await shot(page, '01-login');
});

step('wrong password is refused with a clear message', async ({ page }) => {
  await login(page, 'admin', 'not-the-password');
  await page.waitForSelector('#login-error:has-text("Wrong user name or password")', { timeout: WAIT });
});

step('a lockout shows the remaining time', async ({ page }) => {
  /* The server's answer is checked in tests/integration/test_webui_session.py; here only how
   * the page shows it (a real lock costs five key derivations, slow under ASan). */
  await page.route('**/ui/session', route => route.request().method() === 'POST'
    ? route.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify({ error: {
      status: 401, code: 'locked', message: 'locked', locked_until: new Date(Date.now() + 30000).toISOString(),
      retry_after_s: 30 } }) })
    : route.continue());
  await login(page, 'admin', 'whatever');
  await page.waitForSelector('#login-error:has-text("locked")', { timeout: WAIT });
  const text = await page.textContent('#login-error');
  assert(/Try again in \d+ s/.test(text), 'lock message with time: ' + text);
  await shot(page, '02-login-locked');
  await page.unroute('**/ui/session');
});

step('log in and see the four LEDs', async ({ page }) => {
  await login(page, 'admin', PASSWORD);
  await page.waitForSelector('[data-led="power"]', { timeout: WAIT });
  await led(page, 'power', 'on');
  await led(page, 'system', 'on');
  await led(page, 'vpn', 'on');
  await led(page, 'service', 'off');
  /* TIP1-A_4996: a first login says every entry is new. */
  const banner = await page.textContent('#since-banner');
  assert(/first login/.test(banner), 'since banner: ' + banner);
  await page.waitForSelector('[data-field="firmware"]:not(:has-text("—"))', { timeout: WAIT });
  await page.waitForSelector('#conditions :text("No active error conditions")', { timeout: WAIT });
  await shot(page, '03-dashboard');
});

step('a condition raised through the control API appears', async ({ page }) => {
  await control('PUT', '/control/v1/vpn', { state: 'down' });
  await control('POST', '/control/v1/fault/condition', { name: 'EC_LOG_OVERFLOW', active: true, params: { Protokoll: 'Sicherheitsprotokoll' } });
  await control('POST', '/control/v1/fault/condition', { name: 'EC_CRL_Out_Of_Date', active: true, params: { NextUpdateCRL: '2026-11-28T00:00:00Z' } });
  await page.waitForSelector('tr[data-condition="EC_No_VPN_TI_Connection"] .badge.sev-error', { timeout: WAIT });
  await page.waitForSelector('tr[data-condition="EC_LOG_OVERFLOW"] .badge.sev-warning', { timeout: WAIT });
  await page.waitForSelector('tr[data-condition="EC_CRL_Out_Of_Date"] .badge.sev-fatal', { timeout: WAIT });
  await led(page, 'vpn', 'off');
  await led(page, 'service', 'on');
  await led(page, 'system', 'blink');
  /* Only the admin-resettable one offers a reset button. */
  assert(await page.$('tr[data-condition="EC_No_VPN_TI_Connection"] button') === null, 'no reset for a situation condition');
  await shot(page, '04-dashboard-conditions');
});

step('reset a resettable condition', async ({ page }) => {
  await page.click('button[data-reset="EC_LOG_OVERFLOW"]');
  await page.waitForSelector('#dashboard-status:has-text("EC_LOG_OVERFLOW was reset")', { timeout: WAIT });
  await page.waitForSelector('tr[data-condition="EC_LOG_OVERFLOW"]', { state: 'detached', timeout: WAIT });
  await led(page, 'service', 'off');
  await control('POST', '/control/v1/fault/condition', { name: 'EC_CRL_Out_Of_Date', active: false });
  await control('PUT', '/control/v1/vpn', { state: 'up' });
  await control('POST', '/control/v1/clock/advance', { by: '3s' });
  await led(page, 'system', 'on');
  await led(page, 'vpn', 'on');
  await page.waitForSelector('#conditions :text("No active error conditions")', { timeout: WAIT });
});

step('change a setting, with the validation message for a bad value', async ({ page }) => {
  await page.click('nav a[href="#/settings"]');
  await page.fill('#settings-search', 'SECURITY_LOG_DAYS');
  const row = 'tr[data-setting="SECURITY_LOG_DAYS"]';
  await page.waitForSelector(row, { timeout: WAIT });
  await page.fill('#set-SECURITY_LOG_DAYS', '3');
  await page.click(`${row} button[type=submit]`);
  await page.waitForSelector('#err-SECURITY_LOG_DAYS:not(:empty)', { timeout: WAIT });
  const err = await page.textContent('#err-SECURITY_LOG_DAYS');
  assert(/10/.test(err), 'the message names the range: ' + err);
  assert(await page.getAttribute('#set-SECURITY_LOG_DAYS', 'aria-invalid') === 'true', 'field marked invalid');
  await shot(page, '05-settings-invalid');
  await page.fill('#set-SECURITY_LOG_DAYS', '30');
  await page.click(`${row} button[type=submit]`);
  await page.waitForSelector('#settings-status:has-text("SECURITY_LOG_DAYS is now 30")', { timeout: WAIT });
  const now = await control('GET', '/api/v1/settings/SECURITY_LOG_DAYS');
  assert(now.value === '30', 'the connector has the new value: ' + JSON.stringify(now));
});

step('page, filter and export the security log', async ({ page }) => {
  /* Enough entries for three pages of 25. */
  for (let i = 0; i < 60; i += 10)
    await Promise.all([...Array(10).keys()].map(k => control('POST', '/control/v1/seclog/append',
      { topic: 'TEST/WEBUI', params: { N: String(i + k) } })));
  await page.click('nav a[href="#/log"]');
  await page.selectOption('#log-limit', '25');
  await page.click('#log-filter button[type=submit]');
  await page.waitForSelector('#log-page:has-text("Page 1")', { timeout: WAIT });
  await page.waitForFunction(() => document.querySelectorAll('#log-results tbody tr').length === 25, null, { timeout: WAIT });
  const first1 = await page.getAttribute('#log-results tbody tr', 'data-seq');
  assert(await page.$('#log-results tr.is-new') !== null, 'entries since the last logout are highlighted');
  await shot(page, '06-log-page1');
  await page.click('#log-next');
  await page.waitForSelector('#log-page:has-text("Page 2")', { timeout: WAIT });
  await page.waitForFunction(s => {
    const r = document.querySelector('#log-results tbody tr');
    return r && Number(r.dataset.seq) < Number(s);
  }, first1, { timeout: WAIT });
  await page.click('#log-prev');
  await page.waitForSelector('#log-page:has-text("Page 1")', { timeout: WAIT });
  await page.waitForSelector(`#log-results tbody tr[data-seq="${first1}"]`, { timeout: WAIT });
  /* A topic filter: only the setting change of the step before. */
  await page.fill('#log-topic', 'MGM/ADMINCHANGES');
  await page.click('#log-filter button[type=submit]');
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#log-results tbody tr')];
    return rows.length > 0 && rows.every(r => r.textContent.includes('MGM/ADMINCHANGES'));
  }, null, { timeout: WAIT });
  /* The export streams its pages (routes_log.c); it once stalled after its headers in about
   * 2 runs of 15 (src/mgmt/server.c, invariant 5; tests/integration/test_log_export_stream.py). */
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }),
    page.click('#log-export')]);
  assert(download, 'the export finished');
  const file = path.join(ARTEFACTS, 'security-log-export.jsonl');
  await download.saveAs(file);
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l));
  assert(lines.length > 0 && lines.every(e => e.topic.startsWith('MGM/ADMINCHANGES')), 'export has the filtered entries');
  await shot(page, '07-log-filtered');
});

step('info model, terminals and cards', async ({ page }) => {
  await page.click('nav a[href="#/infomodel"]');
  await page.waitForSelector('main :text("ct1")', { timeout: WAIT });
  await page.waitForSelector('main td:has-text("mandant-client-system")', { timeout: WAIT });
  await shot(page, '08-infomodel');
  await page.click('nav a[href="#/terminals"]');
  await page.waitForSelector('main td:has-text("smcb1")', { timeout: WAIT });
  await shot(page, '09-terminals');
});

step('updates page', async ({ page, log }) => {
  await page.click('nav a[href="#/updates"]');
  await page.waitForSelector('#updater-missing, #updates .panel', { timeout: WAIT });
  if (await page.$('#updater-missing')) log('updates: the updater routes answer 404 here; the page says "not available"');
  await shot(page, '10-updates');
});

step('narrow window', async ({ page }) => {
  await page.setViewportSize({ width: 760, height: 900 });
  await page.click('nav a[href="#/dashboard"]');
  await led(page, 'power', 'on');
  await shot(page, '11-dashboard-narrow');
  await page.setViewportSize({ width: 1280, height: 800 });
});

step('keyboard: the login form works without a mouse', async ({ page }) => {
  await page.click('#logout');
  await page.waitForSelector('#login-error:has-text("logged out")', { timeout: WAIT });
  /* The password field has the focus; the user field is filled with admin. */
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#since-banner', { timeout: WAIT });
  const banner = await page.textContent('#since-banner');
  assert(/Since your last logout/.test(banner), 'after a logout the banner counts since then: ' + banner);
});

step('the session cookie is HttpOnly, Secure and SameSite=Strict', async ({ context }) => {
  const cookies = await context.cookies();
  const c = cookies.find(x => x.name === 'konn_session');
  assert(c && c.httpOnly && c.secure && c.sameSite === 'Strict', 'cookie attributes: ' + JSON.stringify(c));
});

step('factory reset with confirmation', async ({ page, log }) => {
  await page.click('nav a[href="#/reset"]');
  await page.click('#reset-prepare');
  await page.waitForSelector('#reset-confirm-word, #reset-status:not(:empty)', { timeout: WAIT });
  if (!(await page.$('#reset-confirm-word'))) {
    const why = await page.textContent('#reset-status');
    if (/404/.test(why)) {
      log('skip factory reset: POST /api/v1/factory-reset is not there (404)');
      await shot(page, '12-reset-missing');
      return;
    }
    throw new Error('reset could not be prepared: ' + why);
  }
  await page.waitForSelector('#reset-keeps li', { timeout: WAIT });
  await page.waitForSelector('#reset-resets li', { timeout: WAIT });
  assert(await page.isDisabled('#reset-confirm'), 'confirm disabled before the word is typed');
  await page.fill('#reset-confirm-word', 'RESET');
  assert(!(await page.isDisabled('#reset-confirm')), 'confirm enabled after the word');
  await shot(page, '12-reset-confirm');
  await page.click('#reset-confirm');
  await page.waitForSelector('#login-error:has-text("reset to factory settings")', { timeout: WAIT * 4 });
  await shot(page, '13-reset-done');
  /* The old session ended with the reset. */
  const me = await page.evaluate(async () => (await fetch('/ui/session', { headers: { 'X-Konn-CSRF': 'x' } })).status);
  assert(me === 401, 'the session ended: GET /ui/session answered ' + me);
});

/* ---- runner ----------------------------------------------------------------------------- */

(async () => {
  fs.mkdirSync(ARTEFACTS, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  /* The management certificate is self-signed for the device; the test trusts it. */
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', m => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', e => consoleErrors.push(String(e)));
  page.setDefaultTimeout(WAIT);
  /* What happened to each API request, printed when a step fails. */
  const network = [];
  const note = (what, r) => { if (/\/api\/|\/ui\/session/.test(r.url())) network.push(`${Date.now()} ${what} ${r.url()}`); };
  page.on('request', r => note(r.method(), r));
  page.on('response', r => note('response ' + r.status(), r));
  page.on('requestfinished', r => note('finished', r));
  page.on('requestfailed', r => note('failed ' + (r.failure() || {}).errorText, r));
  let failed = false;
  for (const s of steps) {
    const t0 = Date.now();
    try {
      await s.fn({ page, context, network, log: m => console.log('# ' + m) });
      console.log(`ok ${s.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      console.log(`FAILED ${s.name}: ${e.stack || e}`);
      console.log('# the last API requests:\n# ' + network.slice(-12).join('\n# '));
      await page.screenshot({ path: path.join(ARTEFACTS, 'failure.png'), fullPage: true }).catch(() => {});
      failed = true;
      break;
    }
  }
  /* A CSP violation or a script error shows in the console. */
  const errors = consoleErrors.filter(t => !/Failed to load resource/.test(t));
  if (!failed && errors.length) {
    console.log('FAILED console errors: ' + errors.join(' | '));
    failed = true;
  }
  await browser.close();
  process.exit(failed ? 1 : 0);
})().catch(e => {
  console.log('FAILED ' + (e.stack || e));
  process.exit(1);
});
