import { ConflictError } from '../platform/errors';

/**
 * The caller no longer holds the job: the nonce is not the current attempt's (the lease
 * expired and the job was queued again or failed), the job already ended, or there is no
 * such job. A worker that gets this stops working on the job and reports nothing more:
 * whatever it would write belongs to an attempt that is over.
 */
export class StaleJobError extends ConflictError {
  constructor(
    readonly jobId: string,
    reason: string,
  ) {
    super(`Job ${jobId}: ${reason}`);
  }
}

/**
 * A log chunk that does not continue the log: `offset` is past its end (a chunk went missing)
 * or inside it at a place where no chunk of that length starts. `expectedOffset` is where the
 * log ends now; the caller resends from there.
 */
export class LogOffsetError extends ConflictError {
  constructor(
    readonly offset: number,
    readonly expectedOffset: number,
  ) {
    super(
      offset > expectedOffset
        ? `Log chunk at offset ${offset} leaves a gap: the log ends at ${expectedOffset}`
        : `Log chunk at offset ${offset} overlaps what is stored (the log ends at ${expectedOffset})`,
    );
    Object.assign(this.details, { expectedOffset });
  }
}

/**
 * A job result naming an output artifact that another action of the same execution already
 * produced. Declarations forbid it, so this guards against a stale or forged result; the
 * job stays as it was, and the worker reports a failure instead.
 */
export class OutputArtifactConflictError extends ConflictError {
  constructor(
    readonly artifactName: string,
    readonly producedBy: string,
  ) {
    super(
      `Output artifact "${artifactName}" was already produced by action "${producedBy}" in this execution`,
    );
  }
}
