import type { ResourceEnv } from '../graphql/permission';
import { arn } from './arn';

/** Resource ARNs of IAM fields, derived from their arguments (for permission declarations). */
export const userArn = (a: { userName: string }, env: ResourceEnv): string =>
  arn.user(env.accountId, a.userName);
export const groupArn = (a: { groupName: string }, env: ResourceEnv): string =>
  arn.group(env.accountId, a.groupName);
export const roleArn = (a: { roleName: string }, env: ResourceEnv): string =>
  arn.role(env.accountId, a.roleName);
