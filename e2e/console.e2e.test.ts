import { buildSamplePackage, buildZip } from '@im/testing';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { client } from './http';
import { standaloneDriver } from './platforms';

/**
 * The quick start clicked through in the web console (/ui) in Debian's Chromium, driven by
 * playwright-core (it cannot download a browser of its own here): log in, create a configuration,
 * drop the sample package on the drop zone, pick the package and entry point, save, run, watch the
 * job reach FINISHED in the jobs table and read its log. A screenshot of each step goes to
 * test-results/console/. scripts/test.mjs installs Debian's chromium when /usr/bin/chromium is missing.
 */
const CHROMIUM = process.env.IM_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '..', 'test-results', 'console');

describe('the web console, quick start in a browser', () => {
  const driver = standaloneDriver();
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  let step = 0;
  let jobId = '';

  const shot = async (name: string) => {
    step += 1;
    await page.screenshot({ path: path.join(SHOTS, `${String(step).padStart(2, '0')}-${name}.png`) });
  };
  const url = (p: string) => `${driver.url()}${p}`;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM))
      throw new Error(
        `No Chromium at ${CHROMIUM}: the console test needs Debian's chromium package ` +
          '(scripts/test.mjs installs it: apt-get install -y --no-install-recommends chromium).',
      );
    fs.mkdirSync(SHOTS, { recursive: true });
    for (const f of fs.readdirSync(SHOTS)) if (f.endsWith('.png')) fs.rmSync(path.join(SHOTS, f));
    await driver.start();
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'im-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // As polyglot.md says: without the background-networking flags Chromium keeps reaching for
      // Google's hosts, which this closed network refuses.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1366, height: 768 },
    });
    context.setDefaultTimeout(30_000);
    page = context.pages()[0] ?? (await context.newPage());
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    await driver.stop();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  it('1. logs in as admin (a wrong password is refused with a message)', async () => {
    await page.goto(url('/ui'));
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: /./ }).waitFor();
    await shot('login-refused');

    await page.getByLabel('Password').fill(driver.adminPassword);
    await page.getByLabel('Password').press('Enter'); // the keyboard submits the form
    await page.getByRole('heading', { level: 1, name: 'Configurations' }).waitFor();
    await page.getByText('Signed in as admin').waitFor();
    await shot('logged-in');
  });

  it('2. creates a configuration', async () => {
    await page.getByLabel('Name').fill('sample config');
    await page.getByLabel('Description').fill('from the console');
    await page.getByRole('button', { name: 'Create configuration' }).click();
    await page.getByRole('heading', { level: 1, name: 'Configuration: sample config' }).waitFor();
    expect(page.url()).toMatch(/\/ui\/configs\/\d+$/);
    await shot('configuration-created');
  });

  it('3. uploads the sample package by dropping it on the drop zone, and a file through the picker', async () => {
    const pkg = buildSamplePackage();
    // A real drop event with a DataTransfer holding the package, as a drag from the desktop makes it.
    const dataTransfer = await page.evaluateHandle(
      ({ b64, name }) => {
        // Runs in the page: the browser's DataTransfer and File (this file is typed without the DOM).
        const w = globalThis as any;
        const bytes = Uint8Array.from(w.atob(b64) as string, (c) => c.charCodeAt(0));
        const dt = new w.DataTransfer();
        dt.items.add(new w.File([bytes], name, { type: 'application/octet-stream' }));
        return dt;
      },
      { b64: pkg.toString('base64'), name: 'samplePackage.djar' },
    );
    await page.dispatchEvent('[data-testid=dropzone]', 'dragover', { dataTransfer });
    await page.dispatchEvent('[data-testid=dropzone]', 'drop', { dataTransfer });
    await page.getByText('Uploaded samplePackage.djar: 100%').waitFor();
    await page.getByRole('cell', { name: 'samplePackage.djar' }).waitFor();
    expect(await page.locator('#upload-progress').getAttribute('value')).toBe('100');
    await shot('package-dropped');

    // The file input inside the drop zone (what the keyboard reaches), as the "choose files" link uses it.
    await page.setInputFiles('#file-input', {
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from('hello from the console\n'),
    });
    await page.getByRole('cell', { name: 'notes.txt' }).waitFor();
    await shot('file-chosen');
  });

  it('4. picks the package and the entry point from the pickers, adds a secure macro and saves', async () => {
    await page.getByLabel('Package', { exact: true }).selectOption('samplePackage.djar');
    // The entry-point picker is filled from GET /api/jobconfigs/{id}/files/entrypoints/{key}.
    await page.getByLabel('Entry point', { exact: true }).selectOption('integrateXYZ.process');
    const options = await page.getByLabel('Entry point', { exact: true }).locator('option').allTextContents();
    expect(options).toEqual(['(none)', 'hello.mjs', 'integrateXYZ.process', 'scripts/summarize.mjs']);

    await page.getByRole('button', { name: 'Add macro' }).click();
    await page.locator('#macro-key-0').fill('API_TOKEN');
    await page.locator('#macro-secure-0').check();
    await page.locator('#macro-value-0').fill('s3cret-value');
    expect(await page.locator('#macro-value-0').getAttribute('type')).toBe('password');

    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();
    // The secret comes back masked: no value, a placeholder that says it is kept.
    expect(await page.locator('#macro-value-0').inputValue()).toBe('');
    expect(await page.locator('#macro-value-0').getAttribute('placeholder')).toMatch(/unchanged/);
    await shot('configuration-saved');
  });

  it('5. runs it and watches the jobs table reach FINISHED', async () => {
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    jobId = new URL(page.url()).searchParams.get('highlight') ?? '';
    expect(jobId).toMatch(/^[0-9a-f-]{36}$/);
    // The table follows the job over server-sent events (GET /api/jobs/events), not by polling.
    await page.getByTestId('live-mode').filter({ hasText: 'Live' }).waitFor();
    await shot('job-queued');
    await page
      .locator(`tr[data-job-id="${jobId}"] [data-testid=job-status]`)
      .filter({ hasText: 'FINISHED' })
      .waitFor({ timeout: 60_000 });
    // The status line announced to screen readers follows the job too.
    await page.getByRole('status').filter({ hasText: 'sample config: FINISHED' }).waitFor();
    await shot('job-finished');
  });

  it('6. opens the log viewer and sees the log lines', async () => {
    await page.getByRole('link', { name: `log of job ${jobId}` }).click();
    await page.getByRole('heading', { level: 1, name: `Job ${jobId.slice(0, 8)}` }).waitFor();
    await page.getByTestId('job-detail-status').filter({ hasText: 'FINISHED' }).waitFor();
    const log = page.getByTestId('job-log');
    await log.filter({ hasText: `starting job ${jobId}` }).waitFor();
    await log.filter({ hasText: 'read 3 customers (2 active)' }).waitFor();
    expect(await log.textContent()).not.toContain('s3cret-value');
    await shot('job-log');
  });

  it('follows the log of a running job as it is written', async () => {
    // A package that writes a line, works for a few seconds, then writes another (set up over the API).
    const api = client(driver.url());
    const login = await api('POST', '/api/login', {
      json: { username: 'admin', password: driver.adminPassword },
    });
    const token: string = login.json.access_token;
    const ticker = await buildZip({
      'ticker.mjs': `export default async function ({ logger }) {
        logger.info('first tick');
        await new Promise((r) => setTimeout(r, 4000));
        logger.info('second tick');
      }`,
    });
    const c = await api('POST', '/api/jobconfigs', { token, json: { name: 'ticker', active: true } });
    await api('POST', `/api/jobconfigs/${c.json.id}/files?key=ticker.djar`, {
      token,
      body: ticker,
      headers: { 'content-type': 'application/octet-stream' },
    });
    const patched = await api('PATCH', `/api/jobconfigs/${c.json.id}`, {
      token,
      json: { runtimeConfig: { packageName: 'ticker.djar', entryPoint: 'ticker.mjs' } },
    });
    expect(patched.status).toBe(200);

    await page.goto(url(`/ui/configs/${c.json.id}`));
    await page.getByRole('button', { name: 'Run' }).click();
    await page.getByRole('heading', { level: 1, name: 'Jobs' }).waitFor();
    const id = new URL(page.url()).searchParams.get('highlight') ?? '';
    // Keyboard only from here: focus the job's link and press Enter.
    await page.getByRole('link', { name: `log of job ${id}` }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: `Job ${id.slice(0, 8)}` }).waitFor();
    const log = page.getByTestId('job-log');
    await log.filter({ hasText: 'first tick' }).waitFor();
    // The first line is there while the job still runs and before the second is written.
    expect(await log.textContent()).not.toContain('second tick');
    expect(await page.getByText('(following)').isVisible()).toBe(true);
    await shot('log-following');
    await log.filter({ hasText: 'second tick' }).waitFor();
    await page.getByTestId('job-detail-status').filter({ hasText: 'FINISHED' }).waitFor();
    // The stream ended with the job: the viewer no longer says it is following.
    await page.getByText('(following)').waitFor({ state: 'hidden' });
    await shot('log-followed-to-the-end');
  });

  it('shows administrators the users page', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByLabel('User name').fill('console-user');
    await page.getByLabel('Password (at least 12 characters)').fill('a-long-password-123');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByRole('cell', { name: 'console-user', exact: true }).waitFor();
    await shot('users');
  });
});
