/**
 * Three tiers (docs/adr/0003-test-tiers.md): unit tests beside the sources (no I/O beyond temp
 * dirs), integration tests against the real PostgreSQL, Kafka and S3 that scripts/infra starts, and
 * end-to-end tests against the built platform started as a real process.
 */
const libs = [
  'contracts',
  'config',
  'logging',
  'observability',
  'errors',
  'http-kit',
  'db',
  'storage',
  'messaging',
  'lifecycle',
  'testing',
  'client',
];
const services = ['gateway', 'auth', 'jobconfig', 'file-storage', 'job-runner', 'standalone', 'imctl'];

const moduleNameMapper = Object.fromEntries([
  ...libs.map((l) => [`^@im/${l}$`, `<rootDir>/libs/${l}/src`]),
  ...services.map((s) => [`^@im/${s}$`, `<rootDir>/services/${s}/src`]),
]);

const base = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j)sx?$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
  },
  moduleNameMapper,
  modulePathIgnorePatterns: [
    '<rootDir>/.*/dist/',
    '<rootDir>/data/',
    '<rootDir>/.infra/',
    '<rootDir>/.runtime/',
  ],
};

module.exports = {
  // Jest reads testTimeout only at the top level, not per project: e2e and integration steps start processes.
  testTimeout: 90_000,
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: ['<rootDir>/{libs,services}/*/src/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$'],
    },
    {
      ...base,
      displayName: 'integration',
      testTimeout: 60_000,
      testMatch: ['<rootDir>/{libs,services}/*/src/**/*.int.test.ts'],
    },
    {
      ...base,
      displayName: 'e2e',
      testTimeout: 90_000,
      testMatch: ['<rootDir>/e2e/**/*.e2e.test.ts'],
    },
    // The fault-injection suite stops and restarts the shared Kafka and PostgreSQL, so nothing else may
    // run beside it: it is part of the configuration only when IM_FAULTS=1 (scripts/test.mjs sets it for
    // its own phase, after everything else). docs/faults.md.
    ...(process.env.IM_FAULTS === '1'
      ? [
          {
            ...base,
            displayName: 'faults',
            testTimeout: 600_000,
            testMatch: ['<rootDir>/e2e/faults/**/*.faults.test.ts'],
          },
        ]
      : []),
  ],
};
