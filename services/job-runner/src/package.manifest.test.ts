import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { PackageUnusableError } from './package-unusable.error';
import { readManifest, resolveMacros } from './package.manifest';

const BUILT_INS = {
  JOB_ID: 'job-1',
  JOB_CONFIG_ID: '44',
  LOCAL_JOB_SPEC_DIR: '/w/spec',
  LOCAL_JOB_OUT_DIR: '/w/out',
};

describe('resolveMacros', () => {
  it('ranks manifest defaults < configuration and run request < built-ins', () => {
    const r = resolveMacros(
      [
        { key: 'A', value: 'request', secure: false },
        { key: 'JOB_ID', value: 'forged', secure: false },
      ],
      {
        macros: [
          { key: 'A', default: 'manifest' },
          { key: 'B', default: 'manifest-b' },
          { key: 'LOCAL_JOB_OUT_DIR', default: '/etc' },
        ],
      },
      BUILT_INS,
    );
    expect(r.values).toEqual({ A: 'request', B: 'manifest-b', ...BUILT_INS });
    expect(r.notes).toEqual([
      { level: 'WARNING', text: 'macro LOCAL_JOB_OUT_DIR of the package manifest ignored: it is built in' },
      { level: 'WARNING', text: 'macro JOB_ID of the configuration or run request ignored: it is built in' },
      { level: 'INFO', text: 'package defaults used for macro(s): B' },
    ]);
  });

  it('applies a default only when the request has no value for the key, even an empty one', () => {
    const r = resolveMacros(
      [{ key: 'A', value: '', secure: false }],
      { macros: [{ key: 'A', default: 'x' }] },
      {},
    );
    expect(r.values.A).toBe('');
    expect(r.notes).toEqual([]);
  });

  it('masks secure macros of the request and those the manifest declares secure, whatever the source', () => {
    const r = resolveMacros(
      [
        { key: 'TOKEN', value: 'from-config', secure: false },
        { key: 'PASSWORD', value: 'pw', secure: true },
      ],
      {
        macros: [
          { key: 'TOKEN', secure: true },
          { key: 'KEY', default: 'default-key', secure: true },
          { key: 'NEEDED' },
        ],
      },
      {},
    );
    expect(r.secrets.sort()).toEqual(['default-key', 'from-config', 'pw']);
    expect(r.notes).toContainEqual({
      level: 'WARNING',
      text: 'macro(s) the package expects have no value (no default in manifest.json, none in the configuration or run request): NEEDED',
    });
  });

  it('works without a manifest and keeps odd keys as plain entries', () => {
    const r = resolveMacros([{ key: '__proto__', value: 'v', secure: false }], null, {});
    expect(Object.keys(r.values)).toEqual(['__proto__']);
    expect(r.values.__proto__).toBe('v');
  });
});

describe('readManifest', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'im-manifest-test-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const write = (text: string) => fs.writeFile(path.join(dir, 'manifest.json'), text);
  const problem = async () => {
    const err = await readManifest(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageUnusableError);
    return (err as Error).message;
  };

  it('is null without a manifest, and reads a valid one with its unknown fields', async () => {
    expect(await readManifest(dir)).toBeNull();
    await write(JSON.stringify({ name: 'p', version: '1', macros: [{ key: 'A', default: '1' }], extra: 1 }));
    expect(await readManifest(dir)).toEqual({
      manifest: { name: 'p', version: '1', macros: [{ key: 'A', default: '1' }] },
      unknownFields: ['extra'],
    });
  });

  it('names each field at fault', async () => {
    await write(
      JSON.stringify({
        version: 3,
        defaultEntryPoint: '/abs.mjs',
        macros: [{ key: 'A' }, { key: 'A', default: 5 }, { description: 'no key' }],
      }),
    );
    const msg = await problem();
    expect(msg).toMatch(/^manifest\.json is not valid: /);
    expect(msg).toContain('version: ');
    expect(msg).toContain('defaultEntryPoint: must be a relative path inside the package');
    expect(msg).toContain('macros[1].default: ');
    expect(msg).toContain('macros[2].key: ');
  });

  it('refuses duplicate macro keys, JSON errors, non-objects and non-files', async () => {
    await write(JSON.stringify({ macros: [{ key: 'A' }, { key: 'A' }] }));
    expect(await problem()).toContain('macros: macro keys must be unique');
    await write('{ "name": ');
    expect(await problem()).toMatch(/^manifest\.json is not valid JSON: /);
    await write('"just a string"');
    expect(await problem()).toBe('manifest.json is not valid: it must be a JSON object');
    await fs.rm(path.join(dir, 'manifest.json'));
    await fs.mkdir(path.join(dir, 'manifest.json'));
    expect(await problem()).toBe('manifest.json is not a regular file');
  });
});
