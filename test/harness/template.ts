import { createLogger } from '@sluice/shared/log/index.ts';
import { createPool, type Pool } from '@sluice/shared/db/pool.ts';
import { migrate } from '@sluice/shared/migrations/migrate.ts';
import { quoteIdent } from '@sluice/shared/sql/ident.ts';

/** Name of the migrated database every test database is cloned from. */
export const TEMPLATE_DB = 'sluice_template';

const silent = createLogger('test-harness', 'silent');

/** A short-lived admin pool (one connection) on `url`. */
export function adminPool(url: string): Pool {
  return createPool({ url, max: 1, connectTimeoutMs: 10_000, statementTimeoutMs: 120_000, applicationName: 'sluice-test-admin', log: silent });
}

/** `url` with its database name replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * (Re)create the template database with Sluice's migrations applied, so each
 * test clones it with `CREATE DATABASE … TEMPLATE` instead of migrating
 * (graphile-worker's approach: a clone is a file copy, a migration is many
 * statements). Marked IS_TEMPLATE and closed to connections: a clone fails
 * while anyone is connected to its template.
 */
export async function createTemplateDatabase(adminUrl: string, name = TEMPLATE_DB): Promise<void> {
  const admin = adminPool(adminUrl);
  const db = quoteIdent(name);
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) {
      await admin.query(`ALTER DATABASE ${db} IS_TEMPLATE false`);
      await admin.query(`DROP DATABASE ${db} WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE ${db}`);
  } finally {
    await admin.end();
  }
  const pool = adminPool(withDatabase(adminUrl, name));
  try {
    await migrate(pool);
  } finally {
    await pool.end();
  }
  const admin2 = adminPool(adminUrl);
  try {
    await admin2.query(`ALTER DATABASE ${db} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`);
  } finally {
    await admin2.end();
  }
}
