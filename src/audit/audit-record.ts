/**
 * One audit event, shaped as CloudTrail's record so tools that read CloudTrail read it too
 * (field names included: `eventID`, `sourceIPAddress`, `requestID`, `resources[].ARN`).
 */
export type AuditIdentityType = 'Root' | 'IAMUser' | 'AssumedRole' | 'AWSService' | 'Unknown';

export interface AuditIdentity {
  type: AuditIdentityType;
  principalId?: string;
  arn?: string;
  accountId?: string;
  accessKeyId?: string;
  userName?: string;
  sessionContext?: {
    sessionIssuer?: {
      type: string;
      principalId?: string;
      arn?: string;
      accountId?: string;
      userName?: string;
    };
    sourceIdentity?: string;
    attributes?: { creationDate?: string };
  };
}

export interface AuditResource {
  ARN: string;
  accountId: string;
  type: string;
}

export interface AuditRecord {
  eventVersion: string;
  eventID: string;
  eventTime: string;
  eventSource: string;
  eventName: string;
  eventType: 'AwsApiCall' | 'AwsConsoleSignIn' | 'AwsServiceEvent';
  awsRegion: string;
  readOnly: boolean;
  userIdentity: AuditIdentity;
  sourceIPAddress: string;
  userAgent: string | null;
  requestParameters: unknown;
  responseElements: unknown;
  errorCode: string | null;
  errorMessage: string | null;
  requestID: string;
  recipientAccountId: string;
  resources: AuditResource[];
}

export const EVENT_VERSION = '1.08';

/** `codepipeline:CreatePipeline` → `{ eventSource: 'codepipeline.sluice', eventName: 'CreatePipeline' }`. */
export function eventNaming(action: string): { eventSource: string; eventName: string } {
  const [service, operation] = action.includes(':') ? action.split(':', 2) : ['sluice', action];
  return { eventSource: `${service}.sluice`, eventName: operation };
}
