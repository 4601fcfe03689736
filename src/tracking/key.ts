import { createHmac, randomBytes } from 'node:crypto'
import type { Database } from '../db/index.js'
import { claimSetting, getSetting } from '../db/settings.js'
import type { TrackingFormat } from './codec.js'

export class TrackingKeyError extends Error {
  override name = 'TrackingKeyError'
}

const KEY = 'tracking.key'
const FINGERPRINT = 'tracking.key_fingerprint'
const FORMAT = 'tracking.format'

export function keyFingerprint(key: Uint8Array): string {
  return createHmac('sha256', key).update('waybill tracking key fingerprint v1').digest('hex').slice(0, 32)
}

/**
 * The key the codec must use with this database. A different key would map old sequence values to
 * new numbers and could repeat numbers already issued, so a mismatch refuses to start. Without a
 * configured key, one is generated at first start and kept in the database. The format is pinned
 * too: numbers of the two formats are not disjoint.
 */
export async function resolveTrackingKey(
  db: Database,
  configured: Uint8Array | undefined,
  format: TrackingFormat,
): Promise<Buffer> {
  const pinnedFormat = await claimSetting(db, FORMAT, format)
  if (pinnedFormat !== format) {
    throw new TrackingKeyError(
      `TRACKING_FORMAT is "${format}" but this database issues "${pinnedFormat}" numbers; ` +
        'the two formats can collide, so a database keeps the format it started with. Refusing to start.',
    )
  }

  let key: Buffer
  if (configured) {
    key = Buffer.from(configured)
  } else {
    // The fingerprint first: a generated key is stored before its fingerprint, so once this sees a
    // fingerprint, the key read after it sees that key too. Read the other way round, a process
    // starting beside one that generated the key between the two reads took its fingerprint for a
    // configured key's and refused to start (seen in CI: four processes on a fresh database).
    const fingerprint = await getSetting(db, FINGERPRINT)
    const stored = await getSetting(db, KEY)
    if (!stored && fingerprint) {
      throw new TrackingKeyError(
        'TRACKING_KEY is not set, but this database was started with one. Set the same TRACKING_KEY. Refusing to start.',
      )
    }
    key = Buffer.from(stored ?? (await claimSetting(db, KEY, randomBytes(32).toString('hex'))), 'hex')
  }

  const expected = keyFingerprint(key)
  const pinned = await claimSetting(db, FINGERPRINT, expected)
  if (pinned !== expected) {
    throw new TrackingKeyError(
      `TRACKING_KEY does not match the key this database was created with (fingerprint ${expected}, ` +
        `database has ${pinned}). A different key could repeat numbers already issued. Refusing to start.`,
    )
  }
  return key
}
