import { Extensions } from 'type-graphql';

/** Values a resource ARN is derived from, besides the field's arguments. */
export interface ResourceEnv {
  accountId: string;
  region: string;
}

export interface TagLike {
  key: string;
  value?: string;
}

type Args = Record<string, unknown>;

/**
 * What a root field needs, declared as data beside the field (DESIGN §5). The permission layer
 * (src/graphql/permission-layer.ts) reads it from the schema; a field without one is denied,
 * and test/graphql/permissions.test.ts fails for it.
 */
export type PermissionDeclaration =
  /** Anyone, with or without a token (signing in). `action` names the audit event only. */
  | { kind: 'public'; action: string }
  /** Any valid session; no policy is consulted (like sts:GetCallerIdentity). */
  | { kind: 'authenticated'; action: string }
  /** One IAM action on one resource ARN derived from the arguments. */
  | {
      kind: 'iam';
      action: string;
      resource: (args: Args, env: ResourceEnv) => string;
      /** Tags the request would set: `aws:RequestTag/<k>` and `aws:TagKeys`. */
      requestTags?: (args: Args) => TagLike[] | null | undefined;
      /** Only principals of the platform account (000000000000) may call it at all. */
      platformOnly?: boolean;
      /** Principals of the platform account may name resources of any account (audit lookups). */
      platformCrossAccount?: boolean;
      /**
       * `iam:PermissionsBoundary` for the request: the boundary the call sets (`arg`, the name
       * of the argument holding it), or the one its target user or role already has (`holder`),
       * so an administrator can delegate IAM work only for users and roles that keep a boundary.
       */
      permissionsBoundary?: BoundaryKey;
    }
  /** A list: each item is checked for `action` on its own ARN; items the caller may not read are left out. */
  | { kind: 'list'; action: string }
  /**
   * `action` on a resource that may be in another account, decided by the service together with
   * the resource's own policy (assumeRole: the caller's policies and the role's trust policy),
   * as IAM decides resource-based policies. The layer only requires a valid session.
   */
  | { kind: 'resourcePolicy'; action: string; resource: (args: Args, env: ResourceEnv) => string };

export type BoundaryKey = { arg: string } | { holder: 'user' | 'role'; name: (args: Args) => string };

export const PERMISSION_EXTENSION = 'permission';

function declare(declaration: PermissionDeclaration): MethodDecorator & PropertyDecorator & ClassDecorator {
  return Extensions({ [PERMISSION_EXTENSION]: declaration });
}

export const Permission = {
  public: (action: string) => declare({ kind: 'public', action }),
  authenticated: (action: string) => declare({ kind: 'authenticated', action }),
  iam: <A extends object = Args>(
    action: string,
    resource: (args: A, env: ResourceEnv) => string,
    options: {
      requestTags?: (args: A) => TagLike[] | null | undefined;
      platformOnly?: boolean;
      platformCrossAccount?: boolean;
      permissionsBoundary?: BoundaryKey;
    } = {},
  ) =>
    declare({
      kind: 'iam',
      action,
      resource: resource as (args: Args, env: ResourceEnv) => string,
      requestTags: options.requestTags as ((args: Args) => TagLike[] | null | undefined) | undefined,
      platformOnly: options.platformOnly,
      platformCrossAccount: options.platformCrossAccount,
      permissionsBoundary: options.permissionsBoundary,
    }),
  list: (action: string) => declare({ kind: 'list', action }),
  resourcePolicy: <A extends object = Args>(
    action: string,
    resource: (args: A, env: ResourceEnv) => string,
  ) =>
    declare({
      kind: 'resourcePolicy',
      action,
      resource: resource as (args: Args, env: ResourceEnv) => string,
    }),
};
