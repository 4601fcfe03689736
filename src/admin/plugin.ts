import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, extname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, errorEnvelope } from '../http/errors.js'

// The admin page: the files Vite builds from admin/ into dist/admin/, served at /admin/ by this
// process. The page is public; everything it shows comes from the token-protected API.
// The build is small (an HTML file, a script, a stylesheet, an icon), so it is read into memory
// once at start-up: a request never touches the disk, and a half-written rebuild is never served.

export const ADMIN_PREFIX = '/admin'

const HTML = 'text/html; charset=utf-8'
const TYPES: Record<string, string> = {
  '.html': HTML,
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
}

// Vite puts a content hash in every file name under assets/: such a file never changes.
const IMMUTABLE = 'public, max-age=31536000, immutable'
const REVALIDATE = 'no-cache'

interface File {
  body: Buffer
  type: string
  etag: string
  cacheControl: string
}

/** Where `npm run build` puts the page: dist/admin in the folder that holds package.json. */
export function defaultAdminRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir)
    if (parent === dir) throw new Error('src/admin/plugin.ts: no package.json above this file')
    dir = parent
  }
  return join(dir, 'dist', 'admin')
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name))
}

/** The built files by URL path (`/admin/assets/index-Ab12.js`), or undefined without a build. */
export async function loadAdminFiles(root: string): Promise<Map<string, File> | undefined> {
  if (!existsSync(join(root, 'index.html'))) return undefined
  const files = new Map<string, File>()
  for (const path of await filesUnder(root)) {
    const name = relative(root, path).split(sep).join('/')
    const body = await readFile(path)
    files.set(`${ADMIN_PREFIX}/${name}`, {
      body,
      type: TYPES[extname(name)] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      cacheControl: name.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
    })
  }
  return files
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Waybill admin: not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>The admin page has not been built</h1>
<p>This Waybill process found no <code>dist/admin/index.html</code> when it started. Build the page with
<code>npm run build</code> (or <code>npm run build:admin</code>), then restart the service.</p>
<p>The API works without it.</p>
</body></html>
`

function send(request: FastifyRequest, reply: FastifyReply, file: File) {
  reply.header('etag', file.etag).header('cache-control', file.cacheControl)
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
  return reply.type(file.type).send(file.body)
}

export async function adminPage(app: FastifyInstance, options: { root?: string } = {}) {
  const root = options.root ?? defaultAdminRoot()
  // The API must start whatever state the page's build is in (missing, or being rebuilt right now).
  let files: Map<string, File> | undefined
  try {
    files = await loadAdminFiles(root)
    if (!files) app.log.warn({ root }, 'admin page: not built (run npm run build); /admin/ explains this')
  } catch (error) {
    app.log.warn({ err: error, root }, 'admin page: could not read the build; /admin/ explains this')
  }
  const index = files?.get(`${ADMIN_PREFIX}/index.html`)

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split('?')[0] as string
    const file = files?.get(path)
    if (file) return send(request, reply, file)
    // A missing file is a 404; any other path is one of the page's own routes (/admin/orders/12).
    const last = path.slice(path.lastIndexOf('/') + 1)
    if (path.startsWith(`${ADMIN_PREFIX}/assets/`) || last.includes('.')) {
      const error = new AppError('not_found', `No file ${path}`)
      return reply.code(404).send(errorEnvelope(request, error))
    }
    if (!index) return reply.code(503).header('cache-control', 'no-store').type(HTML).send(NOT_BUILT)
    return send(request, reply, index)
  }

  const route = { config: { auth: 'public' as const }, schema: { hide: true } }
  app.get(ADMIN_PREFIX, route, handler)
  app.get(`${ADMIN_PREFIX}/*`, route, handler)
}
