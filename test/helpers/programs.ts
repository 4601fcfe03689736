import { join } from 'node:path'

/**
 * The arguments for `node` that run one of Waybill's programs (`src/server.ts`, `src/cli.ts`) in a
 * process of its own, from the project's root: the build that scripts/test.mjs makes before a run
 * (WAYBILL_TEST_BUILD, plain JavaScript), else the TypeScript source through tsx (a test file run
 * by itself). tsx's loader costs about a second of CPU at every start, and the suite starts the
 * service and the CLI well over a hundred times.
 */
export function program(name: 'server' | 'cli'): string[] {
  const build = process.env.WAYBILL_TEST_BUILD
  return build ? [join(build, 'src', `${name}.js`)] : ['--import', 'tsx', `src/${name}.ts`]
}
