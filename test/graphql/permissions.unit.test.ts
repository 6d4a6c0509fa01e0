import 'reflect-metadata';
import { graphql } from 'graphql';
import { buildSchema, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { describe, expect, it } from 'vitest';
import type { GraphQLContext } from '../../src/graphql/context';
import { applyOperationLayer } from '../../src/graphql/operation-layer';
import { permissionOf, rootTypes } from '../../src/graphql/permission-layer';
import type { AuditRecord } from '../../src/audit/audit-record';
import { createSchema } from '../../src/graphql/schema';

/** Stands for any argument value: `{path}` when printed, and has every property. */
function placeholder(path: string): unknown {
  return new Proxy(
    {},
    {
      get: (_t, prop) => {
        if (prop === Symbol.toPrimitive || prop === 'toString') return () => `{${path}}`;
        return placeholder(`${path}.${String(prop)}`);
      },
    },
  );
}

describe('permission declarations', () => {
  it('every Query, Mutation and Subscription field declares its IAM action and resource (a diff here is a permission change)', async () => {
    const schema = await createSchema();
    const table: Record<string, string> = {};
    const undeclared: string[] = [];
    for (const type of rootTypes(schema)) {
      for (const field of Object.values(type.getFields())) {
        const declaration = permissionOf(field);
        const name = `${type.name}.${field.name}`;
        if (!declaration) {
          undeclared.push(name);
          continue;
        }
        switch (declaration.kind) {
          case 'public':
          case 'authenticated':
            table[name] = `${declaration.kind} (${declaration.action})`;
            break;
          case 'list':
            table[name] = `${declaration.action} on each listed item`;
            break;
          case 'resourcePolicy': {
            const args = placeholder('args') as Record<string, unknown>;
            const resource = declaration.resource(args, { accountId: '{account}', region: '{region}' });
            table[name] = `${declaration.action} on ${resource} (with the resource's own policy)`;
            break;
          }
          case 'iam': {
            const args = placeholder('args') as Record<string, unknown>;
            const resource = declaration.resource(args, { accountId: '{account}', region: '{region}' });
            table[name] =
              `${declaration.action} on ${resource}` +
              (declaration.requestTags ? ' with request tags' : '') +
              (declaration.platformOnly ? ' (platform account only)' : '') +
              (declaration.platformCrossAccount ? ' (platform account: any account)' : '') +
              (declaration.permissionsBoundary
                ? 'arg' in declaration.permissionsBoundary
                  ? ` with iam:PermissionsBoundary from ${declaration.permissionsBoundary.arg}`
                  : ` with iam:PermissionsBoundary of the ${declaration.permissionsBoundary.holder}`
                : '');
          }
        }
      }
    }
    expect(undeclared).toEqual([]);
    await expect(JSON.stringify(table, null, 2) + '\n').toMatchFileSnapshot('./permissions.snapshot.json');
  });

  it('a field without a declaration is denied to everyone', async () => {
    @ObjectType()
    class Secret {
      @Field(() => String)
      value: string;
    }
    @Resolver()
    class LeakyResolver {
      @Query(() => Secret)
      secret(): Secret {
        return { value: 'leaked' };
      }
    }
    const schema = applyOperationLayer(await buildSchema({ resolvers: [LeakyResolver], validate: false }));
    // The smallest context the layer needs to record the refusal.
    const recorded: AuditRecord[] = [];
    const contextValue = {
      requestId: 'req-1',
      sourceIp: '127.0.0.1',
      userAgent: undefined,
      token: undefined,
      services: {
        audit: { record: async (r: AuditRecord) => void recorded.push(r) },
        config: { region: 'local' },
      },
    } as unknown as GraphQLContext;
    const result = await graphql({ schema, source: '{ secret { value } }', contextValue });
    expect(result.data).toBeNull();
    expect(result.errors?.[0].message).toMatch(/declares no permission/);
    expect(recorded.map((r) => [r.eventName, r.errorCode])).toEqual([['secret', 'ACCESS_DENIED']]);
  });
});
