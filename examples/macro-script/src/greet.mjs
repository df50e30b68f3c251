// A script entry point: reads the GREETING and RECIPIENT macros and writes an output file.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export default async function greet({ jobId, macros, logger, outputDir }) {
  const text = `${macros.GREETING}, ${macros.RECIPIENT}! (job ${jobId})\n`;
  await writeFile(join(outputDir, 'greeting.txt'), text);
  logger.info(`wrote greeting.txt for ${macros.RECIPIENT}`);
}
