import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildAsyncApiDocument } from './asyncapi';
import { buildOpenApiDocument } from './openapi';
import { JobStatusEvent } from './events.schema';

const root = path.resolve(__dirname, '..', '..', '..');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string })
  .version;
const committed = (name: string): unknown =>
  JSON.parse(fs.readFileSync(path.join(root, 'docs', name), 'utf8'));

describe('generated API documents in docs/', () => {
  it('docs/openapi.json matches the schemas (run "npm run docs" after changing one)', () => {
    expect(committed('openapi.json')).toEqual(
      JSON.parse(JSON.stringify(buildOpenApiDocument({ version, serverUrl: 'http://localhost:8080/api' }))),
    );
  });

  it('docs/asyncapi.json matches the schemas (run "npm run docs" after changing one)', () => {
    expect(committed('asyncapi.json')).toEqual(JSON.parse(JSON.stringify(buildAsyncApiDocument(version))));
  });

  it('describes the public job-status event with every field of the contract', () => {
    const doc = buildAsyncApiDocument(version) as {
      channels: Record<string, { address: string }>;
      components: {
        messages: Record<
          string,
          { payload: { properties: Record<string, { properties?: Record<string, unknown> }> } }
        >;
      };
    };
    expect(doc.channels['job-status']?.address).toBe('im.job.status');
    const data = doc.components.messages['job-status']?.payload.properties.data?.properties ?? {};
    expect(Object.keys(data).sort()).toEqual(Object.keys(JobStatusEvent.shape.data.shape).sort());
  });
});
