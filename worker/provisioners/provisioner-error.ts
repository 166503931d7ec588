/** A provisioner failed: which one, how, and the last lines it printed. */
export class ProvisionerError extends Error {
  override name = 'ProvisionerError';
  readonly provisioner: string;
  readonly exitCode: number | undefined;
  readonly logTail: readonly string[];

  constructor(provisioner: string, reason: string, exitCode: number | undefined, logTail: readonly string[], logPath: string) {
    super(
      `${provisioner} ${reason}\n` +
        `--- last ${logTail.length} lines of the build log (${logPath}) ---\n` +
        logTail.join('\n'),
    );
    this.provisioner = provisioner;
    this.exitCode = exitCode;
    this.logTail = logTail;
  }
}
