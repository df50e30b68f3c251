import { createConnectorRegistry } from './connector.registry';
import { csvConnector } from './csv.connector';
import { httpConnector } from './http.connector';
import { jsonConnector } from './json.connector';
import { jsonlConnector } from './jsonl.connector';
import { objectConnector } from './object.connector';
import { postgresConnector } from './postgres.connector';

/** Every connector a transform step can name as its source or target. */
export const BUILTIN_CONNECTORS = createConnectorRegistry([
  csvConnector,
  jsonConnector,
  jsonlConnector,
  postgresConnector,
  httpConnector,
  objectConnector,
]);
