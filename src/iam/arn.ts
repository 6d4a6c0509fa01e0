/** ARN builders and parsing (DESIGN §3). Partition `sluice`; IAM ARNs have no region. */

export const PLATFORM_ACCOUNT_ID = '000000000000';
export const PLATFORM_ADMIN_USER = 'admin';
/** The account part of resources every account shares: the managed policies. */
export const SHARED_ACCOUNT = 'sluice';

export const arn = {
  root: (account: string): string => `arn:sluice:iam::${account}:root`,
  user: (account: string, name: string): string => `arn:sluice:iam::${account}:user/${name}`,
  group: (account: string, name: string): string => `arn:sluice:iam::${account}:group/${name}`,
  role: (account: string, name: string): string => `arn:sluice:iam::${account}:role/${name}`,
  policy: (account: string, name: string): string => `arn:sluice:iam::${account}:policy/${name}`,
  managedPolicy: (name: string): string => `arn:sluice:iam::sluice:policy/${name}`,
  pipeline: (region: string, account: string, name: string): string =>
    `arn:sluice:codepipeline:${region}:${account}:${name}`,
  stage: (region: string, account: string, pipeline: string, stage: string): string =>
    `arn:sluice:codepipeline:${region}:${account}:${pipeline}/${stage}`,
  action: (region: string, account: string, pipeline: string, stage: string, action: string): string =>
    `arn:sluice:codepipeline:${region}:${account}:${pipeline}/${stage}/${action}`,
};

export interface ParsedArn {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

export function parseArn(value: string): ParsedArn | undefined {
  const parts = value.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  const [, partition, service, region, account, ...rest] = parts;
  return { partition, service, region, account, resource: rest.join(':') };
}
