import { PLATFORM_NODE_OPTIONS } from '@im/config';
import { freePort, infraEnv, uniqueName, waitFor, type KafkaUserRole } from '@im/testing';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';

/**
 * The chart's environment starts the services: renders charts/integration-manager with values that
 * point at the real PostgreSQL, Kafka and S3 server of scripts/infra, then does what the kubelet
 * would do with each rendered workload, on this machine instead of a cluster:
 *
 * - the command is the image's ENTRYPOINT (docker/Dockerfile, `tini -- node --disable-sigusr1`
 *   without tini) plus the container's `args`, run from the image's WORKDIR (the repository root
 *   stands in for /app, or IM_APP_DIR: a directory laid out as the image's /app, production
 *   dependencies only);
 * - the environment is the image's ENV, then `envFrom` and `env` of the container, with every
 *   configMapKeyRef / secretKeyRef / fieldRef resolved from the rendered ConfigMaps and Secrets;
 * - each volume mount is a temp dir (Secrets written out as files), and env values under a mount
 *   path point into it; Service URLs (`http://<service>:<port>`) point at the local ports.
 *
 * It runs the setup Jobs (create-topics, then the migrations, in container order), starts the five
 * Deployments, and checks every readiness probe answers 200, a login through the gateway works,
 * and SIGTERM stops each within its pod's termination grace period.
 */

const repoRoot = path.resolve(__dirname, '..');
const chartDir = path.join(repoRoot, 'charts', 'integration-manager');
const helmBin = process.env.IM_HELM ?? path.join(repoRoot, '.infra', 'tools', 'bin', 'helm');
/** What stands in for the image's WORKDIR: the repository, or (IM_APP_DIR) a copy laid out as the image's /app. */
const appDir = process.env.IM_APP_DIR ?? repoRoot;
const release = 'chart-env';
const namespace = 'im-e2e';
const adminPassword = 'chart-env-admin-123';
const components = ['gateway', 'auth', 'jobconfig', 'fileStorage', 'jobRunner'] as const;

type K8s = Record<string, any>;

interface Workload {
  name: string;
  podName: string;
  podSpec: K8s;
  container: K8s;
}

interface Started {
  name: string;
  child: ChildProcess;
  output: () => string;
  port: number;
  readyPath: string;
  graceSeconds: number;
}

/** ENTRYPOINT, WORKDIR and ENV of the runtime stage of docker/Dockerfile. */
function imageConfig(): { entrypoint: string[]; workdir: string; env: Record<string, string> } {
  const text = fs.readFileSync(path.join(repoRoot, 'docker', 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const runtime = stages.find((s) => /\bAS runtime\b/.test(s.split('\n')[0] ?? ''));
  if (!runtime) throw new Error('docker/Dockerfile has no stage "AS runtime"');
  const entry = /^ENTRYPOINT (\[.*\])\s*$/m.exec(runtime);
  const workdir = /^WORKDIR (\S+)\s*$/m.exec(runtime);
  if (!entry || !workdir) throw new Error('the runtime stage needs ENTRYPOINT [...] and WORKDIR');
  const env: Record<string, string> = {};
  for (const m of runtime.matchAll(/^ENV (.+)$/gm))
    for (const pair of (m[1] ?? '').trim().split(/\s+/)) {
      const i = pair.indexOf('=');
      if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
    }
  return { entrypoint: JSON.parse(entry[1] ?? '[]') as string[], workdir: workdir[1] ?? '', env };
}

describe('the chart renders an environment the services start with', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'im-chart-env-'));
  const started: Started[] = [];
  const id = uniqueName('chart');
  let resources: K8s[] = [];
  let image: ReturnType<typeof imageConfig>;
  const ports: Record<string, number> = {};

  const find = (kind: string, name: string) => {
    const r = resources.find((x) => x.kind === kind && x.metadata?.name === name);
    if (!r) throw new Error(`${kind} ${name} is referenced but the chart did not render it`);
    return r;
  };
  const secretValue = (name: string, key: string): string => {
    const s = find('Secret', name);
    if (s.stringData?.[key] !== undefined) return String(s.stringData[key]);
    if (s.data?.[key] === undefined) throw new Error(`Secret ${name} has no key ${key}`);
    return Buffer.from(String(s.data[key]), 'base64').toString('utf8');
  };
  const configValue = (name: string, key: string): string => {
    const c = find('ConfigMap', name);
    if (c.data?.[key] === undefined) throw new Error(`ConfigMap ${name} has no key ${key}`);
    return String(c.data[key]);
  };

  /** What the kubelet and kube-proxy would give the container, on this machine. */
  function prepare(w: Workload): { argv: string[]; env: Record<string, string> } {
    const c = w.container;
    if (c.command)
      throw new Error(`${w.name}: the chart overrides the image's ENTRYPOINT; it must only set args`);
    // Volumes: a temp dir per mount; Secret volumes written out as files.
    const mounts: [string, string][] = [];
    for (const m of (c.volumeMounts ?? []) as K8s[]) {
      const vol = ((w.podSpec.volumes ?? []) as K8s[]).find((v) => v.name === m.name);
      if (!vol) throw new Error(`${w.name}: volume ${m.name} is mounted but not declared`);
      const dir = fs.mkdtempSync(path.join(tmp, `${w.name.replace(/\//g, '_')}-${m.name}-`));
      if (vol.secret) {
        const items =
          (vol.secret.items as K8s[] | undefined) ??
          Object.keys(find('Secret', vol.secret.secretName).data ?? {}).map((key) => ({ key, path: key }));
        for (const item of items)
          fs.writeFileSync(path.join(dir, item.path), secretValue(vol.secret.secretName, item.key), {
            mode: 0o440,
          });
      } else if (!vol.emptyDir) {
        throw new Error(
          `${w.name}: volume ${m.name} is neither emptyDir nor secret; teach this test about it`,
        );
      }
      mounts.push([m.mountPath as string, dir]);
    }
    const local = (value: string) => {
      for (const [mountPath, dir] of mounts)
        if (value === mountPath || value.startsWith(`${mountPath}/`))
          return dir + value.slice(mountPath.length);
      // Cluster DNS and kube-proxy: http://<service>[.<ns>[.svc[.cluster.local]]]:<port> -> the local port.
      return value.replace(
        /^http:\/\/([a-z0-9-]+)(?:\.[a-z0-9-]+(?:\.svc(?:\.cluster\.local)?)?)?:(\d+)/,
        (whole, svc: string, port: string) => {
          const service = resources.find((r) => r.kind === 'Service' && r.metadata.name === svc);
          if (!service) return whole;
          const sp = (service.spec.ports as K8s[]).find((p) => String(p.port) === port);
          const target = resources.find(
            (r) =>
              r.kind === 'Deployment' &&
              r.spec.template.metadata.labels['app.kubernetes.io/component'] ===
                service.spec.selector['app.kubernetes.io/component'],
          );
          const cp = (target?.spec.template.spec.containers[0].ports as K8s[]).find(
            (p) => p.name === sp?.targetPort || p.containerPort === sp?.targetPort,
          );
          if (!cp) throw new Error(`Service ${svc} port ${port} leads to no container port`);
          return `http://127.0.0.1:${cp.containerPort}`;
        },
      );
    };
    const env: Record<string, string> = { ...image.env, PATH: process.env.PATH ?? '', HOME: tmp };
    for (const from of (c.envFrom ?? []) as K8s[]) {
      if (from.configMapRef) Object.assign(env, find('ConfigMap', from.configMapRef.name).data ?? {});
      else if (from.secretRef)
        for (const key of Object.keys(find('Secret', from.secretRef.name).data ?? {}))
          env[key] = secretValue(from.secretRef.name, key);
      else throw new Error(`${w.name}: unknown envFrom ${JSON.stringify(from)}`);
    }
    for (const e of (c.env ?? []) as K8s[]) {
      const vf = e.valueFrom as K8s | undefined;
      if (!vf) env[e.name] = String(e.value ?? '');
      else if (vf.secretKeyRef) env[e.name] = secretValue(vf.secretKeyRef.name, vf.secretKeyRef.key);
      else if (vf.configMapKeyRef) env[e.name] = configValue(vf.configMapKeyRef.name, vf.configMapKeyRef.key);
      else if (vf.fieldRef?.fieldPath === 'metadata.name') env[e.name] = w.podName;
      else if (vf.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = namespace;
      else throw new Error(`${w.name}: env ${e.name} has a valueFrom this test cannot resolve`);
    }
    for (const [k, v] of Object.entries(env)) env[k] = local(v);
    const tmpMount = mounts.find(([p]) => p === '/tmp');
    if (tmpMount) env.TMPDIR = tmpMount[1];
    // The image runs `tini -- node <platform options> <args>`; tini only forwards signals, so run
    // node directly, with the options the image gives it (they must be the platform's own).
    const entry = image.entrypoint.filter((a, i) => !(i === 0 && a.endsWith('tini')) && a !== '--');
    expect(entry).toEqual(['node', ...PLATFORM_NODE_OPTIONS]);
    return { argv: [...entry.slice(1), ...((c.args ?? []) as string[])], env };
  }

  const workloadsOf = (kind: 'Job' | 'Deployment', name: string): Workload[] => {
    const r = find(kind, name);
    const podSpec = r.spec.template.spec as K8s;
    return [...((podSpec.initContainers ?? []) as K8s[]), ...(podSpec.containers as K8s[])].map(
      (container) => ({
        name: `${name}/${container.name}`,
        podName: `${name}-7d9f8-x2x4q`,
        podSpec,
        container,
      }),
    );
  };

  beforeAll(async () => {
    if (!fs.existsSync(helmBin))
      throw new Error(
        `helm is missing at ${helmBin}: run \`npm run chart:check\` first (it builds helm into .infra/tools/bin), or set IM_HELM.`,
      );
    image = imageConfig();
    const infra = infraEnv();
    const keys = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    fs.writeFileSync(path.join(tmp, 'private.pem'), keys.privateKey, { mode: 0o600 });
    fs.writeFileSync(path.join(tmp, 'public.pem'), keys.publicKey);
    for (const c of components) ports[c] = await freePort();
    const perComponent = Object.fromEntries(
      components.map((c) => [
        c,
        {
          containerPort: ports[c],
          service: { port: ports[c] },
          // Loopback only: these are test processes on a shared machine, not pods.
          extraEnv: [{ name: 'HTTP_HOST', value: '127.0.0.1' }],
        },
      ]),
    );
    const kafkaUser = (role: KafkaUserRole) => {
      const { username, password } = infra.kafkaUser(role);
      return { username, password };
    };
    const values = {
      logLevel: 'warn',
      ...perComponent,
      database: {
        poolMax: 4,
        auth: { url: infra.pgUrl, schema: `${id}_auth` },
        jobconfig: { url: infra.pgUrl, schema: `${id}_jobconfig` },
        fileStorage: { url: infra.pgUrl, schema: `${id}_files` },
      },
      kafka: {
        brokers: infra.kafkaBrokers,
        topicPrefix: `${id}.`,
        topics: { partitions: 3, replicationFactor: 1 },
        // Each service as its own principal; the create-topics Job as the admin, granting the ACLs.
        sasl: {
          enabled: true,
          mechanism: infra.kafkaSasl.mechanism,
          users: {
            setup: { username: infra.kafkaSasl.username, password: infra.kafkaSasl.password },
            auth: kafkaUser('auth'),
            jobconfig: kafkaUser('jobconfig'),
            fileStorage: kafkaUser('file-storage'),
            jobRunner: kafkaUser('job-runner'),
          },
        },
        acls: { create: true, eventsUsername: infra.kafkaUser('events').username },
      },
      s3: {
        endpoint: infra.s3.endpoint,
        region: infra.s3.region,
        bucket: infra.s3.bucket,
        accessKeyId: infra.s3.accessKeyId,
        secretAccessKey: infra.s3.secretAccessKey,
        forcePathStyle: true,
        keyPrefix: `${id}/`,
      },
      admin: { password: adminPassword },
      // The keyring of secure macro values (jobconfig encrypts, the runner decrypts).
      secretsEncryption: { keys: `e2e:${randomBytes(32).toString('base64')}` },
      // The internal token (gateway and the services behind it) and the metrics token, from values.
      internalToken: { value: randomBytes(32).toString('hex') },
      metrics: { token: randomBytes(32).toString('hex') },
    };
    const valuesFile = path.join(tmp, 'values.json');
    fs.writeFileSync(valuesFile, JSON.stringify(values));
    const rendered = spawnSync(
      helmBin,
      [
        'template',
        release,
        chartDir,
        '--namespace',
        namespace,
        '--kube-version',
        '1.34.0',
        '-f',
        valuesFile,
        '--set-file',
        `jwt.privateKey=${path.join(tmp, 'private.pem')}`,
      ],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
    );
    if (rendered.status !== 0) throw new Error(`helm template failed:\n${rendered.stderr}`);
    resources = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as K8s | null)
      .filter((r): r is K8s => !!r?.kind);

    // The setup Jobs in hook-weight order, each container after the one before (init containers first).
    const jobs = resources
      .filter((r) => r.kind === 'Job')
      .sort(
        (a, b) =>
          Number(a.metadata.annotations?.['helm.sh/hook-weight'] ?? 0) -
          Number(b.metadata.annotations?.['helm.sh/hook-weight'] ?? 0),
      )
      .map((j) => j.metadata.name as string);
    expect(jobs).toEqual([
      `${release}-integration-manager-create-topics`,
      `${release}-integration-manager-migrate`,
    ]);
    for (const job of jobs)
      for (const w of workloadsOf('Job', job)) {
        const { argv, env } = prepare(w);
        const r = spawnSync(process.execPath, argv, {
          cwd: appDir,
          env,
          encoding: 'utf8',
          timeout: 60_000,
        });
        if (r.status !== 0)
          throw new Error(`${w.name} (${argv.join(' ')}) exited ${r.status}:\n${r.stdout}${r.stderr}`);
      }

    for (const c of components) {
      const slug = c.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`);
      const [w] = workloadsOf('Deployment', `${release}-integration-manager-${slug}`);
      if (!w) throw new Error(`no container in the ${slug} Deployment`);
      const { argv, env } = prepare(w);
      let out = '';
      const child = spawn(process.execPath, argv, { cwd: appDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const probe = w.container.readinessProbe?.httpGet as K8s | undefined;
      const port = (w.container.ports as K8s[]).find((p) => p.name === probe?.port)?.containerPort as number;
      started.push({
        name: slug,
        child,
        output: () => out,
        port,
        readyPath: probe?.path as string,
        graceSeconds: w.podSpec.terminationGracePeriodSeconds as number,
      });
    }
  }, 180_000);

  afterAll(async () => {
    await Promise.all(
      started.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null) return resolve();
            s.child.once('exit', () => resolve());
            s.child.kill('SIGKILL');
          }),
      ),
    );
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('answers 200 on every readiness probe the chart declares', async () => {
    expect(started.map((s) => s.name)).toEqual([
      'gateway',
      'auth',
      'jobconfig',
      'file-storage',
      'job-runner',
    ]);
    for (const s of started) {
      expect(s.readyPath).toBe('/readyz');
      const status = await waitFor(
        async () => {
          // An exited process ends the wait at once (waitFor retries on errors until its timeout).
          if (s.child.exitCode !== null) return -1;
          const res = await fetch(`http://127.0.0.1:${s.port}${s.readyPath}`);
          return res.status === 200 ? res.status : undefined;
        },
        { timeoutMs: 45_000, intervalMs: 200, what: `${s.name} ${s.readyPath} to answer 200` },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- ${s.name} output:\n${s.output()}`);
      });
      if (status !== 200)
        throw new Error(`${s.name} exited (${s.child.exitCode}) before it was ready:\n${s.output()}`);
    }
  }, 120_000);

  it('logs the administrator in through the gateway with the keys and password from the Secrets', async () => {
    const gateway = started.find((s) => s.name === 'gateway')!;
    const res = await fetch(`http://127.0.0.1:${gateway.port}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: adminPassword }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token?: string };
    const configs = await fetch(`http://127.0.0.1:${gateway.port}/api/jobconfigs`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    });
    expect(configs.status).toBe(200);
  }, 30_000);

  it('stops every service on SIGTERM within its pod termination grace period', async () => {
    const results = await Promise.all(
      started.map(
        (s) =>
          new Promise<{ name: string; code: number | null; seconds: number }>((resolve) => {
            if (s.child.exitCode !== null || s.child.signalCode !== null)
              return resolve({ name: s.name, code: s.child.exitCode, seconds: 0 });
            const t0 = Date.now();
            const timer = setTimeout(() => s.child.kill('SIGKILL'), s.graceSeconds * 1000);
            s.child.once('exit', (code) => {
              clearTimeout(timer);
              resolve({ name: s.name, code, seconds: (Date.now() - t0) / 1000 });
            });
            s.child.kill('SIGTERM');
          }),
      ),
    );
    for (const r of results) {
      const s = started.find((x) => x.name === r.name)!;
      expect({ name: r.name, code: r.code }).toEqual({ name: r.name, code: 0 });
      expect(r.seconds).toBeLessThan(s.graceSeconds);
    }
  }, 120_000);
});
