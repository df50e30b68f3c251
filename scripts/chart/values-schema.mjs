#!/usr/bin/env node
// Writes charts/integration-manager/values.schema.json: the strict JSON schema of the chart's values.
// The five components share one shape, so the schema is generated from one definition here rather
// than written five times by hand. `--check` exits 1 when the committed file differs (check.sh).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const target = join(root, 'charts', 'integration-manager', 'values.schema.json');

const str = (extra = {}) => ({ type: 'string', ...extra });
const bool = { type: 'boolean' };
const int = (minimum = 0, extra = {}) => ({ type: 'integer', minimum, ...extra });
const obj = (properties, extra = {}) => ({
  type: 'object',
  additionalProperties: false,
  properties,
  ...extra,
});
const freeObj = { type: 'object' };
const map = { type: 'object', additionalProperties: { type: 'string' } };
const arr = (items = {}) => ({ type: 'array', items });
const port = int(1, { maximum: 65535 });
const ms = int(0);
const quantity = {
  type: ['string', 'number'],
  pattern: '^[0-9]+(\\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti|P|Pi|E|Ei)?$',
};
const bytes = {
  type: ['string', 'integer'],
  pattern: '^\\s*[0-9]+\\s*([kKmMgGtT]i?[bB]?|[bB])?\\s*$',
  description: 'a size such as 104857600, 100mb or 2GiB',
};
const intOrPercent = { type: ['integer', 'string'], pattern: '^([0-9]+%?)?$' };
const ref = (name) => ({ $ref: `#/definitions/${name}` });

const definitions = {
  probe: obj(
    { enabled: bool, periodSeconds: int(1), timeoutSeconds: int(1), failureThreshold: int(1) },
    { required: ['enabled'] },
  ),
  resources: obj({
    requests: { type: 'object', additionalProperties: quantity },
    limits: { type: 'object', additionalProperties: quantity },
  }),
  envVar: {
    type: 'object',
    required: ['name'],
    properties: { name: str({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }), value: str(), valueFrom: freeObj },
    additionalProperties: false,
  },
  peers: arr(freeObj),
  networkPorts: arr(
    obj({
      port: { type: ['integer', 'string'] },
      endPort: int(1),
      protocol: str({ enum: ['TCP', 'UDP', 'SCTP'] }),
    }),
  ),
  existingSecretName: str({ pattern: '^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$', maxLength: 253 }),
  image: obj({
    registry: str(),
    repository: str({ minLength: 1 }),
    tag: str(),
    digest: str({ pattern: '^(sha256:[a-f0-9]{64})?$' }),
  }),
};

/** The identical block of every component, with its own `config`. */
function component(config) {
  return obj(
    {
      replicaCount: int(0),
      containerPort: port,
      service: obj({
        type: str({ enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }),
        port,
        annotations: map,
      }),
      resources: ref('resources'),
      podSecurityContext: freeObj,
      containerSecurityContext: freeObj,
      livenessProbe: ref('probe'),
      readinessProbe: ref('probe'),
      startupProbe: ref('probe'),
      terminationGracePeriodSeconds: int(1),
      preStopSleepSeconds: int(0),
      tmpDirSizeLimit: quantity,
      extraEnv: arr(ref('envVar')),
      podAnnotations: map,
      podLabels: map,
      nodeSelector: map,
      tolerations: arr(freeObj),
      affinity: freeObj,
      priorityClassName: str(),
      topologySpread: obj({
        enabled: bool,
        maxSkew: int(1),
        whenUnsatisfiable: str({ enum: ['ScheduleAnyway', 'DoNotSchedule'] }),
        topologyKeys: arr(str({ minLength: 1 })),
      }),
      updateStrategy: obj({
        type: str({ enum: ['RollingUpdate', 'Recreate'] }),
        rollingUpdate: obj({ maxSurge: intOrPercent, maxUnavailable: intOrPercent }),
      }),
      serviceAccount: obj({ create: bool, name: str(), annotations: map }),
      autoscaling: obj({
        enabled: bool,
        minReplicas: int(1),
        maxReplicas: int(1),
        targetCPUUtilizationPercentage: int(0, { maximum: 1000 }),
        targetMemoryUtilizationPercentage: int(0, { maximum: 1000 }),
      }),
      pdb: obj({ enabled: bool, minAvailable: intOrPercent, maxUnavailable: intOrPercent }),
      config: obj(config),
    },
    { required: ['containerPort', 'service', 'resources', 'config'] },
  );
}

const shutdownTimeoutMs = ms;
definitions.gateway = component({
  shutdownTimeoutMs,
  proxyResponseTimeoutMs: int(100),
  proxyIdleTimeoutMs: int(1000),
  corsOrigins: arr(str({ pattern: '^https?://[^/\\s,]+$' })),
  rateLimitPerMinute: int(0),
  rateLimitPerIpPerMinute: int(0),
  trustProxy: str({ minLength: 1 }),
});
definitions.auth = component({
  shutdownTimeoutMs,
  accessTokenTtl: int(60),
  refreshTokenTtl: int(60),
  maxFailedLogins: int(1),
  lockoutSeconds: int(1),
  loginDelayMaxMs: int(0),
  ipMaxFailedLogins: int(1),
  ipWindowSeconds: int(1),
  ipLockoutSeconds: int(1),
});
definitions.jobconfig = component({ shutdownTimeoutMs, leaseMs: int(1000) });
definitions.fileStorage = component({ shutdownTimeoutMs, maxBytes: bytes });
definitions.jobRunner = component({
  concurrency: int(1),
  sandbox: bool,
  isolation: str({ enum: ['bwrap', 'none'] }),
  network: str({ enum: ['none', 'egress', 'host'] }),
  memoryMb: int(16),
  packageCacheMb: int(0),
  warmExecutors: int(0),
  graceMs: ms,
  heartbeatMs: int(50),
  killGraceMs: int(0, { maximum: 3000 }),
  logFlushMs: int(50),
  keepWorkDirs: bool,
  maxUnpackedBytes: bytes,
  maxEntries: int(1),
  workDirSizeLimit: quantity,
});

const database = obj({
  url: str(),
  existingSecret: ref('existingSecretName'),
  existingSecretKey: str({ minLength: 1 }),
  schema: str({ pattern: '^[a-z_][a-z0-9_]*$' }),
});

const schema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'integration-manager chart values',
  description: 'Generated by scripts/chart/values-schema.mjs; edit that file, not this one.',
  type: 'object',
  additionalProperties: false,
  definitions,
  properties: {
    global: obj({ imageRegistry: str(), imagePullSecrets: arr(str({ minLength: 1 })) }),
    nameOverride: str({ maxLength: 40 }),
    fullnameOverride: str({ maxLength: 40 }),
    commonLabels: map,
    commonAnnotations: map,
    image: {
      ...definitions.image,
      properties: {
        ...definitions.image.properties,
        pullPolicy: str({ enum: ['Always', 'IfNotPresent', 'Never'] }),
      },
    },
    logLevel: str({ enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }),
    publicBaseUrl: str({ pattern: '^(https?://[^\\s]+)?$' }),
    internalTimeoutMs: int(100),
    gatewayAddresses: str(),
    metrics: obj({
      podAnnotations: bool,
      token: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretKey: str({ minLength: 1 }),
    }),
    tracing: obj({
      otlpEndpoint: str({ pattern: '^(https?://[^\\s]+)?$' }),
      sampler: str({
        enum: [
          'parentbased_always_on',
          'parentbased_traceidratio',
          'traceidratio',
          'always_on',
          'always_off',
          'parentbased_always_off',
        ],
      }),
      samplerArg: str({ pattern: '^(0(\\.[0-9]+)?|1(\\.0+)?)$' }),
    }),
    gateway: ref('gateway'),
    auth: ref('auth'),
    jobconfig: ref('jobconfig'),
    fileStorage: ref('fileStorage'),
    jobRunner: ref('jobRunner'),
    database: obj({
      poolMax: int(1, { maximum: 100 }),
      auth: database,
      jobconfig: database,
      fileStorage: database,
    }),
    kafka: obj({
      brokers: arr(str({ minLength: 1 })),
      topicPrefix: str({ pattern: '^[A-Za-z0-9._-]*$' }),
      ssl: bool,
      sasl: obj({
        enabled: bool,
        mechanism: str({ enum: ['plain', 'scram-sha-256', 'scram-sha-512'] }),
        users: obj(
          Object.fromEntries(
            ['setup', 'auth', 'jobconfig', 'fileStorage', 'jobRunner'].map((k) => [
              k,
              obj({
                username: str(),
                password: str(),
                existingSecret: ref('existingSecretName'),
                existingSecretPasswordKey: str({ minLength: 1 }),
              }),
            ]),
          ),
        ),
      }),
      acls: obj({ create: bool, eventsUsername: str() }),
      topics: obj({ create: bool, partitions: int(1), replicationFactor: int(1) }),
    }),
    s3: obj({
      endpoint: str({ pattern: '^(https?://[^\\s]+)?$' }),
      region: str({ minLength: 1 }),
      bucket: str(),
      forcePathStyle: bool,
      keyPrefix: str(),
      accessKeyId: str(),
      secretAccessKey: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretAccessKeyIdKey: str({ minLength: 1 }),
      existingSecretSecretAccessKeyKey: str({ minLength: 1 }),
    }),
    jwt: obj({
      privateKey: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretPrivateKeyKey: str({ minLength: 1 }),
      previousPublicKeys: str(),
      algorithm: str({ enum: ['RS256', 'ES256'] }),
      clockToleranceSeconds: int(0, { maximum: 300 }),
      jwksCacheSeconds: int(1),
      mountPath: str({ pattern: '^/' }),
    }),
    admin: obj({
      password: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretKey: str({ minLength: 1 }),
    }),
    secretsEncryption: obj({
      keys: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretKey: str({ minLength: 1 }),
    }),
    internalToken: obj({
      value: str(),
      existingSecret: ref('existingSecretName'),
      existingSecretKey: str({ minLength: 1 }),
    }),
    setup: obj({
      backoffLimit: int(0),
      activeDeadlineSeconds: int(1),
      ttlSecondsAfterFinished: int(0),
      resources: ref('resources'),
      podAnnotations: map,
      nodeSelector: map,
      tolerations: arr(freeObj),
    }),
    ingress: obj({
      enabled: bool,
      className: str(),
      annotations: map,
      hosts: arr(
        obj(
          {
            host: str(),
            paths: arr(
              obj(
                {
                  path: str({ pattern: '^/' }),
                  pathType: str({ enum: ['Prefix', 'Exact', 'ImplementationSpecific'] }),
                },
                { required: ['path', 'pathType'] },
              ),
            ),
          },
          { required: ['paths'] },
        ),
      ),
      tls: arr(obj({ secretName: str(), hosts: arr(str()) })),
    }),
    networkPolicy: obj({
      enabled: bool,
      gatewayIngressFrom: ref('peers'),
      metricsIngressFrom: ref('peers'),
      dns: obj({ to: ref('peers'), ports: ref('networkPorts') }),
      database: obj({ to: ref('peers'), ports: ref('networkPorts') }),
      kafka: obj({ to: ref('peers'), ports: ref('networkPorts') }),
      s3: obj({ to: ref('peers'), ports: ref('networkPorts') }),
      jobRunnerExtraEgress: arr(freeObj),
    }),
    tests: obj({ enabled: bool, image: definitions.image }),
  },
};

// Formatted as `prettier --check` expects it.
const text = await prettier.format(JSON.stringify(schema), {
  ...(await prettier.resolveConfig(target)),
  filepath: target,
});
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // missing: reported below
  }
  if (current !== text) {
    process.stderr.write(
      `${target} is not what scripts/chart/values-schema.mjs generates: run "node scripts/chart/values-schema.mjs" and commit the result.\n`,
    );
    process.exit(1);
  }
} else {
  writeFileSync(target, text);
  process.stdout.write(`wrote ${target}\n`);
}
