#!/usr/bin/env node
// Writes the generated API documents into docs/: openapi.json (REST) and asyncapi.json (topics),
// both from the zod schemas of libs/contracts. Run after changing a schema: npm run docs.
// A unit test (libs/contracts/src/generated-docs.test.ts) fails when they are out of date.
import { writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const contracts = require(join(root, 'libs', 'contracts', 'dist', 'index.js'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const write = (name, doc) => {
  writeFileSync(join(root, 'docs', name), `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`wrote docs/${name}\n`);
};
write('openapi.json', contracts.buildOpenApiDocument({ version, serverUrl: 'http://localhost:8080/api' }));
write('asyncapi.json', contracts.buildAsyncApiDocument(version));
