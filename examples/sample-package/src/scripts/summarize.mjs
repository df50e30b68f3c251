// A script step: the default export receives the job's context.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export default async function summarize({ inputDir, outputDir, logger, jobId }) {
  const csv = await readFile(join(inputDir, 'data', 'customers.csv'), 'utf8');
  const [header, ...rows] = csv.trim().split('\n');
  const active = rows.filter((r) => r.split(',')[3] === 'Y').length;
  logger.info(`read ${rows.length} customers (${active} active); columns: ${header}`);
  await writeFile(
    join(outputDir, 'summary.json'),
    JSON.stringify({ jobId, customers: rows.length, active }, null, 2),
  );
}
