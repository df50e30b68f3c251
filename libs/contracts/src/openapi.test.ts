import { buildOpenApiDocument } from './openapi';

describe('the OpenAPI document', () => {
  const doc = buildOpenApiDocument({ version: 'test', serverUrl: 'http://localhost/api' }) as unknown as {
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
    paths: Record<string, Record<string, { responses: Record<string, unknown>; requestBody?: unknown }>>;
  };

  it('lets a nullable reference be null (zod-to-openapi writes an allOf no null satisfies)', () => {
    expect(doc.components.schemas.Job?.properties?.stoppedByUser).toEqual({
      anyOf: [{ $ref: '#/components/schemas/ResourceRef' }, { type: 'null' }],
    });
    expect(JSON.stringify(doc)).not.toMatch(/"allOf":\[\{"\$ref":"[^"]+"\},\{"type":\["object","null"\]\}\]/);
  });

  it('documents 413 on every operation with a body and 429 on every operation', () => {
    for (const [path, ops] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(ops)) {
        expect({ op: `${method} ${path}`, has429: '429' in op.responses }).toEqual({
          op: `${method} ${path}`,
          has429: true,
        });
        if (op.requestBody)
          expect({ op: `${method} ${path}`, has413: '413' in op.responses }).toEqual({
            op: `${method} ${path}`,
            has413: true,
          });
      }
  });
});
