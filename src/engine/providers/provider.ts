import type { JobSandbox } from '../sandbox/job-sandbox';

/**
 * The seam between the engine's job runner and the code that performs one kind of action.
 * A provider gets everything it needs in an ActionJobContext and knows nothing of the
 * database, GraphQL, or how the job was claimed; the job runner (src/jobs) turns its result
 * into a job result, and its ActionFailure into a failed job.
 */

export interface ActionTypeKey {
  category: string;
  owner: string;
  provider: string;
  version: string;
}

/** CodePipeline's FailureDetails types, UPPER_SNAKE as in the GraphQL contract. */
export type FailureType =
  | 'JOB_FAILED'
  | 'CONFIGURATION_ERROR'
  | 'PERMISSION_ERROR'
  | 'REVISION_OUT_OF_SYNC'
  | 'REVISION_UNAVAILABLE'
  | 'SYSTEM_UNAVAILABLE';

/** Thrown by a provider for a failure that is the action's, with a message for the user. */
export class ActionFailure extends Error {
  constructor(
    readonly type: FailureType,
    message: string,
  ) {
    super(message);
    this.name = 'ActionFailure';
  }
}

export interface InputArtifactDir {
  name: string;
  /** Directory holding the artifact's files, already unpacked and verified. */
  path: string;
}

export interface ActionJobContext {
  jobId: string;
  accountId: string;
  pipelineName: string;
  stageName: string;
  actionName: string;
  pipelineExecutionId: string;
  actionExecutionId: string;
  /** Configuration with every `#{…}` reference already resolved. */
  configuration: Record<string, string>;
  /** Inputs in declaration order; the first is the primary input. */
  inputArtifacts: InputArtifactDir[];
  /** Names of the outputs the action must produce, in declaration order. */
  outputArtifactNames: string[];
  /** A fresh, empty directory for this attempt only, the job's to write; removed afterwards. */
  workDir: string;
  /**
   * The server's folder for files it writes for the job (scripts): the job's processes may
   * read it but not change it.
   */
  controlDir: string;
  /**
   * Where the job's processes leave files for the provider to read back (saved state). They
   * can put anything there, symlinks included: read it with `readJobFile` only.
   */
  reportDir: string;
  /**
   * Every process the provider starts for the job runs in it (`spawnGroup`/`runCaptured`'s
   * `sandbox`); files the server puts in the job's folders are handed over with it.
   */
  sandbox: JobSandbox;
  /**
   * Where outputs go: the provider creates `${outputDir}/${name}/` for each output artifact
   * name and fills it; the runner packs and stores them.
   */
  outputDir: string;
  /** Time the action may take; the provider must stop (and kill what it started) by then. */
  timeoutMs: number;
  /** Aborted when the action is abandoned or the job's lease is lost: stop at once. */
  signal: AbortSignal;
  /** Appends to the action's log (the runner caps the total and stores it by offset). */
  log(text: string): void;
  limits: {
    maxLogBytes: number;
    maxArtifactBytes: number;
  };
}

export interface SourceRevision {
  /** e.g. the commit id. */
  revisionId: string;
  revisionSummary?: string;
  revisionUrl?: string;
  created?: string;
}

export interface ActionResult {
  outputVariables: Record<string, string>;
  summary?: string;
  externalExecutionId?: string;
  /** Source actions: the revision they produced. */
  revision?: SourceRevision;
}

export interface ActionProvider {
  readonly type: ActionTypeKey;
  run(context: ActionJobContext): Promise<ActionResult>;
}
