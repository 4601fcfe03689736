import { buildApp } from './app.js'
import { type Config, ConfigError, loadConfig, loadEnvFile } from './config.js'
import { TrackingKeyError } from './tracking/key.js'

function fail(error: unknown): never {
  // Configuration and key problems are the operator's to fix: say what, without a stack trace.
  const known = error instanceof ConfigError || error instanceof TrackingKeyError
  console.error(known ? `waybill: ${(error as Error).message}` : error)
  process.exit(1)
}

async function main(config: Config): Promise<void> {
  const app = await buildApp(config)
  let closing = false
  const shutdown = (signal: string) => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down: no new connections, finishing requests in flight')
    const force = setTimeout(() => {
      app.log.error('shutdown timed out; exiting with requests still in flight')
      process.exit(1)
    }, config.shutdownTimeoutMs)
    force.unref()
    app.close().then(
      () => {
        app.log.info('shutdown complete')
        process.exit(0)
      },
      (error) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  await app.listen({ host: config.host, port: config.port })
  const address = app.server.address()
  app.log.info(
    {
      port: typeof address === 'object' && address ? address.port : config.port,
      database: config.database.target.kind,
      format: config.tracking.format,
    },
    'waybill is ready',
  )
}

let config: Config
try {
  loadEnvFile()
  config = loadConfig()
} catch (error) {
  fail(error)
}
main(config).catch(fail)
