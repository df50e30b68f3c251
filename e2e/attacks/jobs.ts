import { buildZip, waitFor } from '@im/testing';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Api } from '../http';

const TERMINAL = ['FINISHED', 'ERROR', 'FAILED', 'CANCELLED'];

/** The attack package: the one script of package/attack.mjs, as a `.djar`. */
export function attackPackage(): Promise<Buffer> {
  return buildZip({ 'attack.mjs': fs.readFileSync(path.join(__dirname, 'package', 'attack.mjs')) });
}

/** Jobs of one user on one platform, through the API as any client would run them. */
export function jobs(api: Api, token: string) {
  const ok = (r: { status: number; text: string }, status: number, what: string) => {
    if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text}`);
  };
  return {
    /** A configuration running `entryPoint` of a package uploaded as `p.djar`; resolves with its id. */
    async configure(name: string, pkg: Buffer, entryPoint: string): Promise<string> {
      const c = await api('POST', '/api/jobconfigs', { token, json: { name, active: true } });
      ok(c, 201, `creating configuration ${name}`);
      const id = String(c.json.id);
      await this.upload(id, pkg);
      const u = await api('PUT', `/api/jobconfigs/${id}`, {
        token,
        json: { name, active: true, runtimeConfig: { packageName: 'p.djar', entryPoint } },
      });
      ok(u, 200, `setting the package of ${name}`);
      return id;
    },
    async upload(configId: string, pkg: Buffer): Promise<void> {
      const r = await api('PUT', `/api/jobconfigs/${configId}/files/p.djar`, {
        token,
        body: pkg,
        headers: { 'content-type': 'application/octet-stream' },
      });
      if (r.status !== 200 && r.status !== 201) throw new Error(`uploading p.djar: ${r.status} ${r.text}`);
    },
    /** Submits a run with these macros; resolves with the job's id. */
    async run(configId: string, macros: Record<string, string> = {}): Promise<string> {
      const r = await api('POST', `/api/jobconfigs/${configId}/jobs`, {
        token,
        json: { runtimeConfig: { macros: Object.entries(macros).map(([key, value]) => ({ key, value })) } },
      });
      ok(r, 202, 'submitting a run');
      return String(r.json.id);
    },
    /** Waits until the job has ended; resolves with it. */
    ended(jobId: string, timeoutMs = 60_000): Promise<any> {
      return waitFor(
        async () => {
          const r = await api('GET', `/api/jobs/${jobId}`, { token });
          return TERMINAL.includes(r.json?.status) ? r.json : undefined;
        },
        { timeoutMs, intervalMs: 200, what: `job ${jobId} to end` },
      );
    },
    async log(jobId: string): Promise<string> {
      return (await api('GET', `/api/jobs/${jobId}/log`, { token })).text;
    },
    /** An output file of the job parsed as JSON, undefined when the job left none. */
    async outJson(jobId: string, name: string): Promise<any> {
      const r = await api('GET', `/api/jobs/${jobId}/out/files/${name}`, { token });
      return r.status === 200 ? JSON.parse(r.text) : undefined;
    },
  };
}

export type Jobs = ReturnType<typeof jobs>;
