import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The project's root, the folder that holds package.json, with a trailing slash: test files run
 * from test/ (through tsx, a file run by itself) or from the build that scripts/test.mjs makes
 * (dist/test-build/test/), so a fixed number of `../` from a test file would not find it.
 */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('test/helpers/root.ts: no package.json above this file')
    dir = parent
  }
  return `${dir}/`
}

export const ROOT = findRoot()
