/**
 * The package cannot be run as it is: missing, not a zip, unsafe, without the entry point. The job
 * fails with reason `package-unusable`; the message and the fix go to the job log.
 */
export class PackageUnusableError extends Error {
  override name = 'PackageUnusableError';
  constructor(
    message: string,
    /** What the user should do about it. */
    readonly fix: string,
  ) {
    super(message);
  }
}
