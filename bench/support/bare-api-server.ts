import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { buildSchema } from 'graphql';
import pg from 'pg';

/**
 * The ceiling of an API call on this machine (bench/api.ts, issue 10): the libraries Sluice is
 * built on — express 5, Apollo Server 5, graphql-js, pg — serving the same
 * `{ pipeline(name) { name version declaration } }` from the same row of the same database,
 * and the same `tagResource` write (the statements Sluice's TagService runs, in one
 * transaction), with none of Sluice's guarantees: no token check, no IAM decision, no audit
 * event. What Sluice costs beyond it is the price of those guarantees.
 */
const accountId = process.env.BENCH_ACCOUNT_ID ?? '';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

// A scalar declared in SDL serializes values as they are: the declaration's JSON object.
const schema = buildSchema(`
  scalar JSON
  type Pipeline { name: String!  version: Int!  declaration: JSON! }
  type Query { pipeline(name: String!): Pipeline }
  input TagInput { key: String!  value: String! }
  type Mutation { tagResource(resourceArn: String!, tags: [TagInput!]!): Boolean! }
`);

interface Tag {
  key: string;
  value: string;
}

const rootValue = {
  pipeline: async ({ name }: { name: string }) => {
    const { rows } = await pool.query<{ name: string; version: number; declaration: unknown }>(
      'SELECT name, version, declaration FROM pipelines WHERE account_id = $1 AND name = $2',
      [accountId, name],
    );
    return rows[0] ?? null;
  },
  tagResource: async ({ resourceArn, tags }: { resourceArn: string; tags: Tag[] }) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const name = resourceArn.split(':')[5];
      const found = await client.query('SELECT 1 FROM pipelines WHERE account_id = $1 AND name = $2', [
        accountId,
        name,
      ]);
      if (!found.rows.length) throw new Error(`Resource ${resourceArn} does not exist`);
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `resource-tags:${accountId}:${resourceArn}`,
      ]);
      await client.query(
        'DELETE FROM resource_tags WHERE account_id = $1 AND resource_arn = $2 AND lower(key) = ANY($3)',
        [accountId, resourceArn, tags.map((t) => t.key.toLowerCase())],
      );
      await client.query(
        `WITH added AS (
           INSERT INTO resource_tags (account_id, resource_arn, key, value)
           SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS t(k, v) RETURNING 1)
         SELECT (SELECT count(*) FROM resource_tags WHERE account_id = $1 AND resource_arn = $2)
                + (SELECT count(*) FROM added) AS count`,
        [accountId, resourceArn, tags.map((t) => t.key), tags.map((t) => t.value)],
      );
      await client.query('COMMIT');
      return true;
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  },
};

async function main(): Promise<void> {
  const app = express();
  const server = http.createServer(app);
  const apollo = new ApolloServer({ schema, rootValue });
  await apollo.start();
  app.use('/graphql', express.json({ limit: '1mb' }), expressMiddleware(apollo));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (message: { stop?: boolean }) => {
    if (message.stop) {
      void apollo
        .stop()
        .then(() => pool.end())
        .then(() => process.exit(0));
    }
  });
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
}

main().catch((err: unknown) => {
  process.stderr.write(`bare API server failed: ${String(err)}\n`);
  process.exit(1);
});
