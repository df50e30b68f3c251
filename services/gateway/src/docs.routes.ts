import { buildOpenApiDocument, type ProductInfo } from '@im/contracts';
import { baseUrl } from '@im/http-kit';
import express, { type Router } from 'express';
import * as path from 'node:path';

function swaggerUiDir(): string {
  return path.dirname(require.resolve('swagger-ui-dist/package.json'));
}

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>integration-manager API</title>
  <link rel="stylesheet" href="/api/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/api/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/api/docs/init.js"></script>
</body>
</html>`;

const INIT_JS = `window.ui = SwaggerUIBundle({ url: '/api/openapi.json', dom_id: '#swagger-ui', deepLinking: true, persistAuthorization: false });`;

/** Product info, the OpenAPI document and its interactive page: the gateway's own, public routes. */
export function docsRoutes(info: ProductInfo, publicBaseUrl?: string): Router {
  const r = express.Router();
  const documents = new Map<string, unknown>();

  r.get('/api/product/info', (_req, res) => {
    res.json(info);
  });

  r.get('/api/openapi.json', (req, res) => {
    const server = `${baseUrl(req, publicBaseUrl)}/api`;
    let doc = documents.get(server);
    if (!doc) {
      doc = buildOpenApiDocument({ version: info.version, serverUrl: server });
      if (documents.size < 16) documents.set(server, doc);
    }
    res.json(doc);
  });

  r.get('/api/docs', (_req, res) => {
    res
      .type('html')
      .setHeader(
        'Content-Security-Policy',
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      );
    res.send(DOCS_HTML);
  });
  r.get('/api/docs/init.js', (_req, res) => {
    res.type('application/javascript').send(INIT_JS);
  });
  r.use('/api/docs/assets', express.static(swaggerUiDir(), { index: false, maxAge: '1h' }));
  return r;
}
