import type { ProductInfo } from '@im/contracts';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Name and version from the root package.json; build date from when this file was compiled. */
export function productInfo(): ProductInfo {
  let version = '0.0.0';
  try {
    const pkg = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as {
      version?: string;
    };
    version = pkg.version ?? version;
  } catch {
    // running from an unusual layout: keep the default
  }
  return { name: 'integration-manager', version, buildDate: fs.statSync(__filename).mtime.toISOString() };
}
