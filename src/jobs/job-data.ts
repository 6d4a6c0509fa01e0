import type { ActionTypeKey, FailureType, SourceRevision } from '../engine/providers/provider';
import type { JobStatus } from '../engine/model/statuses';

/**
 * What a job carries (`jobs.data`), written once by the engine when it starts the action and
 * never changed: everything a worker needs to run the action without reading anything else
 * of the pipeline. A remote worker receives exactly this, so it holds no secret of the server.
 */
export interface JobData {
  actionTypeId: ActionTypeKey;
  /** Every `#{…}` reference already resolved. */
  actionConfiguration: Record<string, string>;
  pipelineContext: {
    pipelineName: string;
    stage: string;
    action: string;
    pipelineExecutionId: string;
    actionExecutionId: string;
  };
  /** In declaration order: the first is the primary input. Verified by hash when unpacked. */
  inputArtifacts: { name: string; sha256: string; sizeBytes: number }[];
  /** In declaration order. */
  outputArtifacts: { name: string }[];
  timeoutMinutes: number;
}

/**
 * One attempt at a job, handed to the worker that claimed it. `nonce` is this attempt's
 * credential: every later call about the job must present it, and it stops working the moment
 * the attempt is taken away (lease expired, job ended).
 */
export interface ClaimedJob {
  id: string;
  accountId: string;
  nonce: string;
  /** 1 for the first claim; a job whose lease expired is claimed again with the next one. */
  attempt: number;
  data: JobData;
  leaseExpiresAt: Date;
  /**
   * Where this attempt's log starts: the length in bytes of what earlier attempts of the
   * action execution already logged. `appendLog` takes offsets continuing from here.
   */
  logOffset: number;
}

export interface JobHeartbeat {
  leaseExpiresAt: Date;
  /** The action was abandoned or timed out: stop now and report a failure (or nothing). */
  cancelRequested: boolean;
}

export interface JobSuccessResult {
  outputVariables: Record<string, string>;
  summary?: string;
  externalExecutionId?: string;
  /** Source actions: the revision they produced. */
  revision?: Pick<SourceRevision, 'revisionId' | 'revisionSummary'>;
  /** Exactly the job's declared outputs, already in the artifact store. */
  outputArtifacts: { name: string; sha256: string; sizeBytes: number }[];
}

export interface JobFailure {
  type: FailureType;
  message: string;
}

export interface LogPage {
  text: string;
  /** Where the next read starts (a character boundary). */
  nextOffset: number;
  /** Nothing will ever be appended past `nextOffset`: the action ended and no job of it runs. */
  complete: boolean;
}

/**
 * The job protocol as a worker sees it: the only seam between whatever hands out jobs (the
 * PostgreSQL queue in-process, the GraphQL job API for remote workers) and the worker loop.
 *
 * Contracts, for every implementation:
 * - at-least-once: a claimed job is delivered to one worker at a time, but may be delivered
 *   again (a new attempt, a new nonce) when its lease expires, so what runs it is idempotent;
 * - every call after `claim` is fenced by the attempt's nonce and fails with StaleJobError
 *   once the attempt is no longer the job's current one;
 * - `succeed` and `fail` are idempotent for the current attempt: repeating one after a lost
 *   reply changes nothing and returns false.
 */
export interface JobBroker {
  /** Up to `max` QUEUED jobs of these action types, oldest first, each now DISPATCHED to `workerId`. */
  claim(actionTypes: readonly string[], max: number, workerId: string): Promise<ClaimedJob[]>;
  /**
   * DISPATCHED → IN_PROGRESS. Returns the job's status: IN_PROGRESS means run it; a terminal
   * status (the job was cancelled before it started) means drop it without reporting.
   */
  acknowledge(accountId: string, jobId: string, nonce: string): Promise<JobStatus>;
  /** Extends the lease; carries cancellation. */
  heartbeat(accountId: string, jobId: string, nonce: string): Promise<JobHeartbeat>;
  /** Stores `text` at byte `offset` of the action's log; returns the offset after it. */
  appendLog(
    accountId: string,
    jobId: string,
    nonce: string,
    offset: number,
    text: string,
  ): Promise<{ nextOffset: number }>;
  /** Records the result; false when it changed nothing (a repeat, or the action already ended). */
  succeed(accountId: string, jobId: string, nonce: string, result: JobSuccessResult): Promise<boolean>;
  /** Records the failure; false when it changed nothing (a repeat, or the action already ended). */
  fail(accountId: string, jobId: string, nonce: string, failure: JobFailure): Promise<boolean>;
}
