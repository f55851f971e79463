// Drives Debian's chromium through the posta web console as a tenant administrator, the way a
// person would: log in, create an account, add an alias, create a list with two members, change
// a class of service after its preview, run into a contract cap, log out; then, as a mailbox
// user, import a .vcf file and create an app password on the self-service pages and log out. It saves screenshots
// of the main pages and prints one JSON summary on standard output; the exit code is 0 only when
// every step passed.
//
// Usage: POSTA_PASSWORD=... node flow.mjs URL EMAIL OUTDIR
// Environment: POSTA_CHROMIUM (default /usr/bin/chromium); POSTA_USER_EMAIL and
// POSTA_USER_PASSWORD for the self-service part (skipped without them).

import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [base, email, outDir] = process.argv.slice(2);
const password = process.env.POSTA_PASSWORD;
// Optional: a mailbox user for the self-service part (POSTA_USER_EMAIL, POSTA_USER_PASSWORD).
const userEmail = process.env.POSTA_USER_EMAIL;
const userPassword = process.env.POSTA_USER_PASSWORD;
if (!base || !email || !outDir || !password) {
  console.error('usage: POSTA_PASSWORD=... node flow.mjs URL EMAIL OUTDIR');
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const summary = { ok: false, steps: [], screenshots: [], consoleErrors: [], cspViolations: [] };
const step = (name, detail) => {
  summary.steps.push(detail === undefined ? { name } : { name, detail });
  process.stderr.write(`step: ${name}\n`);
};

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const userDataDir = mkdtempSync(join(tmpdir(), 'posta-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.POSTA_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    ignoreHTTPSErrors: true,
    viewport: { width: 1360, height: 900 },
    locale: 'en-GB',
    timeout: 60000,
  });
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(20000);
  page.on('console', (msg) => {
    if (msg.type() === 'error') {
      summary.consoleErrors.push(msg.text());
      if (/Content.Security.Policy/i.test(msg.text())) summary.cspViolations.push(msg.text());
    }
  });
  page.on('pageerror', (err) => summary.consoleErrors.push(String(err)));

  const shot = async (name, opts = {}) => {
    const file = join(outDir, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true, ...opts });
    summary.screenshots.push(file);
  };
  const flash = async () => (await page.locator('[data-test=flash]').innerText()).trim();

  // Log in.
  const resp = await page.goto(`${base}/login`);
  check(resp.status() === 200, `login page status ${resp.status()}`);
  check((resp.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'CSP header on the login page');
  await shot('login');
  await page.fill('#f-email', email);
  await page.fill('#f-password', password);
  await Promise.all([page.waitForURL(`${base}/`), page.click('[data-test=login]')]);
  check((await page.locator('h1').first().innerText()).includes('Acme'), 'dashboard of the tenant');
  step('login');
  await shot('dashboard');

  // Create an account with the generated password.
  await Promise.all([page.waitForURL(`${base}/accounts`), page.click('nav.sidebar a[href="/accounts"]')]);
  await Promise.all([page.waitForURL(`${base}/accounts/new`), page.click('[data-test=new-account]')]);
  await page.fill('#f-local', 'carol');
  await page.selectOption('select[name=domain]', 'acme.test');
  await page.fill('#f-display_name', 'Carol Rossi');
  await page.selectOption('#f-cos', { label: 'Business Mail 100 MB' });
  const generated = await page.inputValue('#f-password');
  check(generated.length >= 12, 'a generated password is offered');
  await Promise.all([page.waitForURL(/\/accounts\/\d+$/), page.click('[data-test=create-account]')]);
  check((await flash()).includes('carol@acme.test'), 'account created message');
  const accountURL = page.url();
  summary.account = 'carol@acme.test';
  step('create account', accountURL);

  // Add an alias on the account's page.
  await page.fill('#al-local', 'c.rossi');
  await Promise.all([page.waitForURL(accountURL), page.click('[data-test=add-alias]')]);
  check((await flash()).includes('c.rossi@acme.test'), 'alias added message');
  check((await page.locator('[data-test=aliases]').innerText()).includes('c.rossi@acme.test'), 'alias listed');
  summary.alias = 'c.rossi@acme.test';
  step('add alias');
  await shot('account');

  // A distribution list with two members.
  await page.click('nav.sidebar a[href="/lists"]');
  await page.fill('#f-local', 'team');
  await page.fill('#f-name', 'Team');
  await page.selectOption('#f-post_policy', 'members');
  await Promise.all([page.waitForURL(/\/lists\/team(%40|@)acme\.test$/), page.click('[data-test=create-list]')]);
  for (const m of ['alice@acme.test', 'carol@acme.test']) {
    await page.fill('#f-member', m);
    await Promise.all([page.waitForLoadState('load'), page.click('[data-test=add-member]')]);
    check((await flash()).includes(m), `member ${m} added`);
  }
  const members = (await page.locator('[data-test=members] li .mono').allInnerTexts()).map((s) => s.trim());
  check(members.length === 2, `two members, got ${members}`);
  summary.list = 'team@acme.test';
  summary.listMembers = members;
  step('create list', members);
  await shot('list');

  // Change the class of service: preview first, then confirm.
  await page.goto(accountURL);
  await page.selectOption('#f-newcos', { label: 'Business Mail Plus 500 MB' });
  await Promise.all([page.waitForURL(/\/cos\?cos=/), page.click('[data-test=preview-cos]')]);
  const preview = await page.locator('[data-test=cos-preview]').innerText();
  check(preview.includes('Business Mail Plus 500 MB') && preview.includes('500 MB'), 'preview names the new class and quota');
  check(preview.includes('Calendar'), 'preview shows the calendar gained');
  summary.cosPreview = preview.replace(/\s+/g, ' ').trim();
  await shot('cos-preview');
  await Promise.all([page.waitForURL(accountURL), page.click('[data-test=confirm-cos]')]);
  check((await flash()).includes('Business Mail Plus 500 MB'), 'class of service changed message');
  summary.cosAfter = 'Business Mail Plus 500 MB';
  step('change class of service');

  // The contract allows one account of Business Mail Plus 500 MB: a second one is refused,
  // and the form says so next to the class of service.
  await page.goto(`${base}/accounts/new`);
  await page.fill('#f-local', 'dave');
  await page.selectOption('#f-cos', { label: 'Business Mail Plus 500 MB' });
  await Promise.all([page.waitForLoadState('load'), page.click('[data-test=create-account]')]);
  const capError = (await page.locator('[data-test=error-cos]').innerText()).trim();
  check(/contract allows 1 accounts/.test(capError), `cap message: ${capError}`);
  check((await page.inputValue('#f-local')) === 'dave', 'the form keeps what was typed');
  summary.capMessage = capError;
  step('contract cap', capError);
  await shot('cap-error');

  // The pages an administrator looks at most.
  await page.goto(`${base}/accounts`);
  check((await page.locator('[data-test=accounts]').innerText()).includes('carol@acme.test'), 'account listed');
  await shot('accounts');
  await page.goto(`${base}/domains/acme.test`);
  check((await page.locator('[data-test=dns]').innerText()).includes('v=spf1 mx -all'), 'DNS records shown');
  await shot('domain-dns');
  await page.goto(`${base}/lang/it?next=/`);
  check((await page.locator('html').getAttribute('lang')) === 'it', 'Italian after the switch');
  await shot('dashboard-it');
  await page.goto(`${base}/lang/en?next=/`);
  step('browse');

  // The credit page: the consumption chart is server-rendered SVG (no script, no inline style).
  await Promise.all([page.waitForURL(/\/billing\/tenants\/\d+$/), page.click('nav.sidebar a[href="/billing"]')]);
  check(await page.locator('[data-test=charts] svg.chart').first().isVisible(), 'consumption chart shown');
  const bars = await page.locator('[data-test=charts] svg.chart rect').count();
  check(bars >= 30, `consumption chart bars: ${bars}`);
  check(await page.locator('[data-test=usage]').isVisible(), 'consumption table');
  await shot('credit');
  step('credit chart', bars);

  // The same console on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(accountURL);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling on a phone (${overflow}px)`);
  await shot('account-mobile');
  await page.setViewportSize({ width: 1360, height: 900 });
  step('phone layout');

  // Log out: the session ends.
  await Promise.all([page.waitForURL(/\/login$/), page.click('[data-test=logout]')]);
  check((await flash()).length > 0, 'logged out message');
  await page.goto(`${base}/accounts`);
  check(/\/login\?next=/.test(page.url()), 'after logout the console asks to log in');
  step('logout');

  // A mailbox user: self-service only. It creates an app password for its phone, reads it
  // from the one page that shows it, and logs out.
  if (userEmail) {
    await page.goto(`${base}/login`);
    await page.fill('#f-email', userEmail);
    await page.fill('#f-password', userPassword);
    await Promise.all([page.waitForURL(`${base}/me`), page.click('[data-test=login]')]);
    check((await page.locator('h1').first().innerText()).includes('My account'), 'a user lands on My account');
    check((await page.locator('nav.sidebar a[href="/accounts"]').count()) === 0, 'no administration in the user navigation');
    const settings = await page.locator('[data-test=self-clients]').innerText();
    check(settings.includes('993') && settings.includes('465') && settings.includes('587') && settings.includes(userEmail), `client settings: ${settings}`);
    step('user login');
    await shot('self-service');
    const guess = await page.goto(`${base}/accounts`);
    check(guess.status() === 404, `a user guessing an administration page gets ${guess.status()}`);
    await page.goto(`${base}/me`);

    // Contacts from another service: a .vcf export uploaded on the same page, twice; the
    // second time nothing is new.
    const vcf = 'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Mario Rossi\r\nEMAIL:mario@rossi.example\r\nEND:VCARD\r\n' +
      'BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Giulia Verdi\r\nTEL:+39 02 555\r\nEND:VCARD\r\n';
    for (const [run, want] of [[1, '2 new, 0 unchanged'], [2, '0 new, 2 unchanged']]) {
      await page.setInputFiles('#f-import-file', { name: 'contacts.vcf', mimeType: 'text/vcard', buffer: Buffer.from(vcf) });
      await Promise.all([
        page.waitForResponse((r) => r.url().includes('/me/import') && r.request().method() === 'POST'),
        page.click('[data-test=import]'),
      ]);
      await page.waitForLoadState('load');
      const got = `${(await page.locator('[data-test=n-imported]').innerText()).trim()} new, ${(await page.locator('[data-test=n-skipped]').innerText()).trim()} unchanged`;
      check(got === want, `import ${run}: ${got}, want ${want}`);
    }
    check((await page.locator('[data-test=pim-counts]').innerText()).includes('2 contacts'), 'contact count on the page');
    step('import contacts');
    await shot('self-import');
    await page.goto(`${base}/me`);

    await Promise.all([page.waitForURL(`${base}/me/app-passwords`), page.click('nav.sidebar a[href="/me/app-passwords"]')]);
    await page.fill('#f-name', 'phone');
    await Promise.all([page.waitForLoadState('load'), page.click('[data-test=create-app-password]')]);
    const secret = (await page.locator('[data-test=app-secret]').innerText()).trim();
    check(/^[A-Za-z0-9]{20}$/.test(secret), `an app password is shown: ${secret.length} characters`);
    check(await page.locator('[data-test=once-warning]').isVisible(), 'the shown-once warning');
    check((await page.locator('[data-test=client-user]').innerText()).trim() === userEmail, 'the user name to enter');
    summary.appPassword = secret;
    step('create app password');
    await shot('app-password');
    await Promise.all([page.waitForURL(`${base}/me/app-passwords`), page.click('[data-test=app-password-done]')]);
    const names = (await page.locator('[data-test=app-password-name]').allInnerTexts()).map((s) => s.trim());
    check(names.length === 1 && names[0] === 'phone', `app passwords listed: ${names}`);
    check(!(await page.content()).includes(secret), 'the list never shows the password');
    step('list app passwords', names);

    await Promise.all([page.waitForURL(/\/login$/), page.click('[data-test=logout]')]);
    check((await flash()).length > 0, 'user logged out message');
    step('user logout');
  }

  check(summary.cspViolations.length === 0, `CSP violations: ${summary.cspViolations}`);
  summary.ok = true;
} catch (err) {
  summary.error = String(err && err.stack ? err.stack : err);
  try {
    const p = context && context.pages()[0];
    if (p) {
      const file = join(outDir, 'failure.png');
      await p.screenshot({ path: file, fullPage: true });
      summary.screenshots.push(file);
      summary.failedAt = p.url();
    }
  } catch (_) { /* the browser is gone */ }
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(summary) + '\n');
process.exit(summary.ok ? 0 : 1);
