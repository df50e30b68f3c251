/**
 * One line per attack, on stdout so that CI's output shows it, then a failure when it succeeded:
 * `attack=<name> platform=<standalone|distributed> outcome=blocked|SUCCEEDED detail=...`.
 */
export function verdict(platform: string, attack: string, succeeded: boolean, detail: string): void {
  const oneLine = detail.replace(/\s+/g, ' ').slice(0, 600);
  process.stdout.write(
    `attack=${attack} platform=${platform} outcome=${succeeded ? 'SUCCEEDED' : 'blocked'} detail=${oneLine}\n`,
  );
  if (succeeded) throw new Error(`attack ${attack} succeeded on ${platform}: ${oneLine}`);
}

/** The attempts of a job's report that went through, as `what` strings. */
export function through(report: any, match: (what: string) => boolean = () => true): string[] {
  return ((report?.attempts ?? []) as { what: string; ok: boolean }[])
    .filter((a) => a.ok && match(a.what))
    .map((a) => a.what);
}

/** A short account of a job: status, reason, and what its report says went through. */
export function jobDetail(job: any, report: any): string {
  const refused = ((report?.attempts ?? []) as { what: string; ok: boolean; error?: string }[])
    .filter((a) => !a.ok)
    .map((a) => `${a.what}: ${a.error}`);
  return `job ${job?.status}${job?.reason ? ` (${job.reason})` : ''}; through: [${through(report).join('; ')}]; refused: [${refused.join('; ')}]`;
}
