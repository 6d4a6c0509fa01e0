import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import { buildSchema } from 'graphql';
import pg from 'pg';

/**
 * The ceiling of an API read on this machine (bench/api.ts, issue 10): the libraries Sluice is
 * built on — express 5, Apollo Server 5, graphql-js, pg — serving the same
 * `{ pipeline(name) { name version declaration } }` from the same row of the same database,
 * with none of Sluice's guarantees: no token check, no IAM decision, no audit event. What
 * Sluice costs beyond it is the price of those guarantees.
 */
const accountId = process.env.BENCH_ACCOUNT_ID ?? '';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });

// A scalar declared in SDL serializes values as they are: the declaration's JSON object.
const schema = buildSchema(`
  scalar JSON
  type Pipeline { name: String!  version: Int!  declaration: JSON! }
  type Query { pipeline(name: String!): Pipeline }
`);

const rootValue = {
  pipeline: async ({ name }: { name: string }) => {
    const { rows } = await pool.query<{ name: string; version: number; declaration: unknown }>(
      'SELECT name, version, declaration FROM pipelines WHERE account_id = $1 AND name = $2',
      [accountId, name],
    );
    return rows[0] ?? null;
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
