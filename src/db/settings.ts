import { dialectOf } from './dialect.js'
import type { Database } from './index.js'

// A small key-value table for facts that must outlive a process: the tracking key, its fingerprint.

export async function getSetting(db: Database, name: string): Promise<string | undefined> {
  const row = await db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst()
  return row?.value
}

/** Stores `value` unless the setting exists; returns what is stored afterwards (first writer wins). */
export async function claimSetting(db: Database, name: string, value: string): Promise<string> {
  const insert = db.insertInto('settings').values({ name, value })
  // MySQL has no ON CONFLICT; INSERT IGNORE skips the row whose name is taken.
  await (dialectOf(db) === 'mysql'
    ? insert.ignore()
    : insert.onConflict((oc) => oc.column('name').doNothing())
  ).execute()
  const stored = await getSetting(db, name)
  if (stored === undefined) throw new Error(`setting ${name} vanished after being claimed`)
  return stored
}
