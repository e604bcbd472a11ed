// console_browser.js - the web console (issue 15) in a real browser:
// playwright-core driving Debian's chromium, headless, through lighttpd.
// Run by tests/integration/test_console.py, which owns MariaDB, lighttpd
// and the mock upstream and answers this script's requests on stdin.
//
// Environment:
//   NODE_MODULES   node_modules folder of tests/npm/install.sh
//   BASE_URL       http://127.0.0.1:PORT (lighttpd)
//   ADMIN_NAME / ADMIN_PASSWORD  an admin made with relayctl
//   SHOT_DIR       folder for the screenshots
//   CHROMIUM       the browser binary (default /usr/bin/chromium)
//
// Protocol: a line "@@ASK <what> <arg>" on stdout asks the Python side to
// do something only it can (expire a session in MariaDB, wait for the
// request_log row of a call, queue an item); it answers one line on stdin. The last line is "@@DONE {json}" on success; any failure
// throws, prints the reason and exits 1.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { chromium } = require(path.join(process.env.NODE_MODULES, 'playwright-core'));

const BASE = process.env.BASE_URL;
const SHOTS = process.env.SHOT_DIR;
const ADMIN = process.env.ADMIN_NAME;
const ADMIN_PW = process.env.ADMIN_PASSWORD;
const BASE_HOST = new URL(BASE).host;

// The XSS probes: names the console must show as text, never run.
const XSS_USER = '<script>alert(1)</script>"\'&';
const XSS_KEY = '<img src=x onerror=alert(2)>"><svg/onload=alert(3)>';
const MEMBER = 'member1';
const MEMBER_PW = 'member-pass-1';
const OTHER = 'member2';

const lines = readline.createInterface({ input: process.stdin });
const answers = [];
let waiting = null;
lines.on('line', (l) => { if (waiting) { const w = waiting; waiting = null; w(l); } else answers.push(l); });

// Asks the Python side and waits for its one-line answer.
function ask(what, arg) {
  process.stdout.write(`@@ASK ${what} ${arg}\n`);
  if (answers.length) return Promise.resolve(answers.shift());
  return new Promise((resolve) => { waiting = resolve; });
}

function log(msg) { process.stdout.write(`console_browser: ${msg}\n`); }

const problems = [];   // CSP reports, page errors, dialogs, off-host requests

async function shot(page, name) {
  const file = path.join(SHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

// Fills and submits the login form; returns the page's status.
async function login(page, name, pw) {
  await page.goto(`${BASE}/console/login`);
  await page.fill('#name', name);
  await page.fill('#password', pw);
  const [resp] = await Promise.all([
    page.waitForNavigation(),
    page.click('#submit'),
  ]);
  return resp;
}

async function logout(page) {
  await Promise.all([page.waitForNavigation(), page.click('#logout')]);
  assert.match(page.url(), /\/console\/login$/);
}

// The flash message of the page ('' if none).
async function flash(page) {
  const f = page.locator('#flash');
  return (await f.count()) ? (await f.textContent()).trim() : '';
}

// Submits a form (by selector) and returns the navigation's response.
async function submit(page, buttonSel) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(buttonSel)]);
  return resp;
}

// The height of the last (today's) bar of a chart: the usage it shows.
async function todayBar(page, chartId) {
  const rects = page.locator(`#${chartId} rect.a`);
  const n = await rects.count();
  assert.ok(n >= 1, `chart ${chartId} has bars`);
  return Number(await rects.nth(n - 1).getAttribute('height'));
}

async function adminPart(page, out) {
  let r = await login(page, ADMIN, 'wrong-password');
  assert.equal(r.status(), 401, 'wrong password: 401');
  assert.match(await flash(page), /用户名或密码错误/);
  await shot(page, '01-login-wrong-password');

  r = await login(page, ADMIN, ADMIN_PW);
  assert.equal(r.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/console/');
  await shot(page, '02-admin-home');

  // users: the member, a second member and one whose name is an XSS probe
  await page.goto(`${BASE}/console/admin/users`);
  for (const [name, pw] of [[MEMBER, MEMBER_PW], [OTHER, 'member-pass-2'], [XSS_USER, '']]) {
    await page.fill('#user-name', name);
    await page.fill('#user-password', pw);
    r = await submit(page, '#user-create');
    assert.equal(r.status(), 200, `create user ${name}`);
    assert.match(await flash(page), /用户已创建/);
  }
  // the probe is shown as text, in the users table
  const cells = await page.locator('#users td.c-name').allTextContents();
  assert.ok(cells.includes(XSS_USER), `escaped user name shown: ${cells}`);
  assert.equal(await page.locator('#users script').count(), 0, 'no script element');
  await shot(page, '03-admin-users');

  // a key for the member, through the member's admin page
  const row = page.locator('#users tr', { has: page.locator('td.c-name', { hasText: new RegExp(`^${MEMBER}$`) }) });
  await Promise.all([page.waitForNavigation(), row.locator('a.edit').click()]);
  out.memberId = Number(new URL(page.url()).pathname.split('/').pop());
  await page.fill('#key-name', XSS_KEY);
  await page.fill('#key-models', 'gpt-test');
  r = await submit(page, '#key-create');
  assert.equal(r.status(), 200);
  out.key = (await page.locator('#newkey').textContent()).trim();
  assert.match(out.key, /^sk-[A-Za-z0-9]{43}$/);
  const keyCells = await page.locator('#keys td.c-name').allTextContents();
  assert.ok(keyCells.includes(XSS_KEY), `escaped key name shown: ${keyCells}`);
  out.memberKeyId = Number(await page.locator('#keys tbody tr').first().getAttribute('data-id'));
  await shot(page, '04-admin-user-key-created');

  // a key of the other member, for the member to try to revoke
  await page.goto(`${BASE}/console/admin/users`);
  const orow = page.locator('#users tr', { has: page.locator('td.c-name', { hasText: new RegExp(`^${OTHER}$`) }) });
  await Promise.all([page.waitForNavigation(), orow.locator('a.edit').click()]);
  out.otherId = Number(new URL(page.url()).pathname.split('/').pop());
  await page.fill('#key-name', 'other-key');
  await submit(page, '#key-create');
  out.otherKeyId = Number(await page.locator('#keys tbody tr').first().getAttribute('data-id'));
  assert.notEqual(out.otherKeyId, out.memberKeyId);
  await logout(page);
}

async function memberPart(page, out) {
  let r = await login(page, MEMBER, MEMBER_PW);
  assert.equal(r.status(), 200);
  // no admin entries in the member's navigation
  assert.equal(await page.locator('nav a[href="/console/admin/users"]').count(), 0);
  const before = await todayBar(page, 'chart-requests');
  const reqBefore = (await page.locator('#today-requests .v').textContent()).trim();

  // the keys page shows the key's prefix (never the key)
  await page.goto(`${BASE}/console/keys`);
  const prefix = (await page.locator('#keys td.c-prefix').first().textContent()).trim();
  assert.equal(prefix, out.key.slice(0, 12), 'the key prefix is shown');
  assert.ok(!(await page.content()).includes(out.key), 'the whole key is never shown again');
  await shot(page, '05-member-keys');

  // a call with the key: through lighttpd and the relay to the mock upstream
  const resp = await fetch(`${BASE}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${out.key}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }] }),
  });
  assert.equal(resp.status, 200, `call: ${await resp.clone().text()}`);
  const body = await resp.json();
  out.callTokens = body.usage.total_tokens;
  // the relay answers before it writes the request's log row
  assert.equal(await ask('logged', 1), 'ok');

  // the home page now shows the request and a taller bar for today
  await page.goto(`${BASE}/console/`);
  const after = await todayBar(page, 'chart-requests');
  assert.ok(after > before, `today's bar grew: ${before} -> ${after}`);
  const reqAfter = (await page.locator('#today-requests .v').textContent()).trim();
  assert.notEqual(reqAfter, reqBefore);
  assert.match(reqAfter, /^1\b/);
  const tokTitle = await page.locator('#chart-tokens g.bar title').last().textContent();
  assert.ok(tokTitle.includes(`: ${out.callTokens} `), `tokens chart: ${tokTitle}`);
  const rowText = await page.locator('#recent tbody tr').first().textContent();
  assert.ok(rowText.includes('gpt-test') && rowText.includes('200'), `recent row: ${rowText}`);
  await shot(page, '06-member-home-after-call');
  await page.goto(`${BASE}/console/requests`);
  assert.equal(await page.locator('#requests tbody tr').count(), 1);
  await shot(page, '07-member-requests');
  await page.goto(`${BASE}/console/queue`);
  await shot(page, '08-member-queue');

  // another member's admin page: 403; another's key: 404 (same as missing)
  r = await page.goto(`${BASE}/console/admin/users/${out.otherId}`);
  assert.equal(r.status(), 403);
  await shot(page, '09-member-forbidden');
  await page.goto(`${BASE}/console/keys`);
  await page.evaluate(([own, other]) => {
    const f = document.querySelector(`form[action="/console/keys/${own}/revoke"]`);
    f.action = `/console/keys/${other}/revoke`;
  }, [out.memberKeyId, out.otherKeyId]);
  r = await submit(page, 'button.revoke');
  assert.equal(r.status(), 404, 'revoking another member\'s key');
  assert.match(await flash(page), /密钥不存在/);

  // a form without its CSRF token is refused
  await page.evaluate(() => document.querySelector('#key-form input[name=csrf]').remove());
  await page.fill('#key-name', 'no-csrf');
  r = await submit(page, '#key-create');
  assert.equal(r.status(), 403, 'missing CSRF token');
  assert.match(await page.content(), /CSRF/);
  // the API refuses the session cookie without X-CSRF-Token too
  const api = await page.request.post(`${BASE}/api/v1/user/keys`, { data: { name: 'x' } });
  assert.equal(api.status(), 403);
  assert.equal((await api.json()).code, 403);

  // the session expires (in MariaDB): the next page asks for a login again
  assert.equal(await ask('expire', MEMBER), 'ok');
  r = await page.goto(`${BASE}/console/keys`);
  assert.match(page.url(), /\/console\/login$/, 'expired session: back to the login');
  const me = await page.request.get(`${BASE}/api/v1/auth/me`);
  assert.equal(me.status(), 401);
  await shot(page, '10-expired-session-login');
}

async function adminPages(page, out) {
  let r = await login(page, ADMIN, ADMIN_PW);
  assert.equal(r.status(), 200);
  // edit the member through the form: priority and a per-user cap
  await page.goto(`${BASE}/console/admin/users/${out.memberId}`);
  await page.fill('#u-priority', '4');
  await page.fill('#u-max_concurrent', '2');
  r = await submit(page, '#user-save');
  assert.equal(r.status(), 200);
  assert.match(await flash(page), /用户已更新/);
  assert.equal(await page.inputValue('#u-priority'), '4');
  // the live queue: a waiting item of the member, cancelled with its button
  const qid = await ask('enqueue', MEMBER);
  await page.goto(`${BASE}/console/admin/queue`);
  const qrow = page.locator(`#queue tr[data-id="${qid}"]`);
  assert.match(await qrow.textContent(), /waiting/);
  await shot(page, '12-admin-queue');
  r = await submit(page, `#queue tr[data-id="${qid}"] button.cancel`);
  assert.equal(r.status(), 200);
  assert.match(await flash(page), /已取消/);
  assert.match(await page.locator(`#queue tr[data-id="${qid}"]`).textContent(), /failed/);
  for (const [p, name] of [['admin/keys', '11-admin-keys'],
    ['admin/usage', '13-admin-usage'], ['admin/audit', '14-admin-audit']]) {
    const resp = await page.goto(`${BASE}/console/${p}`);
    assert.equal(resp.status(), 200, p);
    await shot(page, name);
  }
  // the usage page counts the member's call
  const byUser = await page.goto(`${BASE}/console/admin/usage`);
  assert.equal(byUser.status(), 200);
  const t = await page.locator('#by-user').textContent();
  assert.ok(t.includes(MEMBER), 'usage by user lists the member');
  assert.match(await page.locator('#by-backend').textContent(), /default/);
  // backends: one added from the form (its key never shown again), then
  // tested against an address where nothing listens
  await page.goto(`${BASE}/console/admin/backends`);
  await page.fill('#backend-add #u-name', 'pw-backend');
  await page.selectOption('#backend-add #b-format', 'openai');
  await page.fill('#backend-add #u-url', 'http://127.0.0.1:9/v1');
  await page.fill('#backend-add #b-key', 'sk-browser-upstream-SECRET-7q6w');
  await page.fill('#backend-add #u-slots', '2');
  r = await submit(page, '#backend-save');
  assert.equal(r.status(), 200);
  assert.match(await flash(page), /上游已添加/);
  const brow = page.locator('#backends tr', { hasText: 'pw-backend' });
  assert.match(await brow.textContent(), /7q6w/);
  assert.ok(!(await page.content()).includes('SECRET'), 'the key is never shown again');
  r = await submit(page, '#backends tr:has-text("pw-backend") button.test');
  assert.equal(r.status(), 200);
  assert.match(await flash(page), /测试失败/);
  await shot(page, '15-admin-backends');
}

async function main() {
  fs.mkdirSync(SHOTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-relay-console-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const out = {};
  try {
    // loopback only: anything not for the relay is refused and reported
    await context.route('**/*', (route) => {
      const u = new URL(route.request().url());
      if (u.host === BASE_HOST) return route.continue();
      problems.push(`off-host request ${u.href}`);
      return route.abort();
    });
    const page = context.pages()[0] || await context.newPage();
    page.on('dialog', (d) => { problems.push(`dialog: ${d.message()}`); d.dismiss(); });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
    await adminPart(page, out);
    await memberPart(page, out);
    await adminPages(page, out);
    assert.deepEqual(problems, [], 'no script ran, nothing was refused, nothing left the host');
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
    lines.close();
  }
  delete out.key;   // the test's own output never shows a key
  process.stdout.write(`@@DONE ${JSON.stringify(out)}\n`);
}

main().catch((e) => {
  process.stdout.write(`console_browser: FAILED: ${e && e.stack ? e.stack : e}\n`);
  if (problems.length) process.stdout.write(`console_browser: problems: ${problems.join('; ')}\n`);
  process.exit(1);
});
