import { Foundation1764100000000 } from './1764100000000-foundation';
import { AuditTrail1764200000000 } from './1764200000000-audit-trail';
import { Executions1764300000000 } from './1764300000000-executions';
import { IamCanonicalNames1764400000000 } from './1764400000000-iam-canonical-names';
import { AuditOwner1764500000000 } from './1764500000000-audit-owner';
import { InlinePolicyNames1764800000000 } from './1764800000000-inline-policy-names';
import { EventsOutbox1764900000000 } from './1764900000000-events-outbox';
import { ActionArtifacts1765000000000 } from './1765000000000-action-artifacts';
import { Roles1765200000000 } from './1765200000000-roles';
import { BoundariesGuardrails1765300000000 } from './1765300000000-boundaries-guardrails';
import { AuthorizationDecisions1765400000000 } from './1765400000000-authorization-decisions';

/** Listed explicitly: TypeORM's glob loader cannot load .ts under vitest (STACK.md gotcha 3). */
export const migrations = [
  Foundation1764100000000,
  AuditTrail1764200000000,
  Executions1764300000000,
  IamCanonicalNames1764400000000,
  AuditOwner1764500000000,
  InlinePolicyNames1764800000000,
  EventsOutbox1764900000000,
  ActionArtifacts1765000000000,
  Roles1765200000000,
  BoundariesGuardrails1765300000000,
  AuthorizationDecisions1765400000000,
];
