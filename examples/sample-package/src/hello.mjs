// A script entry point: run directly when the configuration's entryPoint is hello.mjs.
export default async function hello({ jobId, logger }) {
  logger.info(`hello from job ${jobId}`);
}
