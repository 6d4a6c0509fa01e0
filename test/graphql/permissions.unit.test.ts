import 'reflect-metadata';
import { graphql } from 'graphql';
import { buildSchema, Field, ObjectType, Query, Resolver } from 'type-graphql';
import { describe, expect, it } from 'vitest';
import type { GraphQLContext } from '../../src/graphql/context';
import { applyPermissions, permissionOf, rootTypes } from '../../src/graphql/permission-layer';
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
            table[name] = declaration.kind;
            break;
          case 'list':
            table[name] = `${declaration.action} on each listed item`;
            break;
          case 'iam': {
            const args = placeholder('args') as Record<string, unknown>;
            const resource = declaration.resource(args, { accountId: '{account}', region: '{region}' });
            table[name] =
              `${declaration.action} on ${resource}` +
              (declaration.requestTags ? ' with request tags' : '') +
              (declaration.platformOnly ? ' (platform account only)' : '');
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
    const schema = applyPermissions(await buildSchema({ resolvers: [LeakyResolver], validate: false }));
    const result = await graphql({
      schema,
      source: '{ secret { value } }',
      contextValue: {} as GraphQLContext,
    });
    expect(result.data).toBeNull();
    expect(result.errors?.[0].message).toMatch(/declares no permission/);
  });
});
