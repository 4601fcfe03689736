import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const serverModules = new RegExp(`^${escapeRegExp(here('../src/'))}`)

// Built by `npm run build` into dist/admin, which src/admin/plugin.ts serves at /admin/.
export default defineConfig({
  root: here('.'),
  base: '/admin/',
  publicDir: here('public'),
  // Preact through Vite's own JSX transform: no framework plugin needed.
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { 'node:crypto': here('src/shims/node-crypto.ts') } },
  build: {
    outDir: here('../dist/admin'),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    rolldownOptions: {
      // The server modules the page imports from are pure where the page uses them (the check
      // character, the order transitions); their other exports pull in ajv and TypeBox, whose
      // module-level setup the page never needs. Without this the bundle is 180 kB instead of ~40.
      treeshake: { moduleSideEffects: [{ test: serverModules, sideEffects: false }] },
    },
  },
  // `npx vite --config admin/vite.config.ts` for development, against a service on port 3000.
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(
      ['/api', '/tracking', '/tracking-numbers'].map((path) => [path, 'http://127.0.0.1:3000']),
    ),
  },
})
