# syntax=docker/dockerfile:1
# Waybill: build with the toolchain, run on a slim image with only the compiled app and its
# production dependencies, as the unprivileged "node" user.
#
#   docker build -t waybill .
#   docker run --rm -p 3000:3000 -e TRACKING_KEY="$(openssl rand -hex 32)" \
#     -e SECRET_KEY="$(openssl rand -hex 32)" waybill
#
# The image runs with NODE_ENV=production, where SECRET_KEY (32+ characters; it signs access
# tokens) is required: pass it at run time, never bake it in here. Behind a proxy, also set
# TRUST_PROXY to the proxy's address or subnet; with more than one instance, REDIS_URL, so that
# rate limits count across them (compose.yaml sets all three).
#
# Both stages must use the same image: better-sqlite3 is a native addon compiled (or fetched)
# for this exact Node ABI and glibc. Pin a version or digest for reproducible builds, e.g.
# --build-arg NODE_IMAGE=node:20.20.2-bookworm-slim.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# node-gyp's toolchain, for when better-sqlite3 has no prebuilt binary for this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
# Compile against the image's own Node headers instead of downloading them.
ENV npm_config_nodedir=/usr/local

# Dependencies first, so editing the source does not reinstall them.
COPY package.json package-lock.json ./
# Install scripts run only for the packages package.json's allowScripts lists, and only those
# the image needs (esbuild serves tsx, a dev tool), whichever npm version the image ships.
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund \
    && npm rebuild better-sqlite3

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY admin ./admin
RUN npm run build \
    && npm prune --omit=dev --ignore-scripts --no-audit --no-fund
# At run time better-sqlite3 needs only its compiled addon: drop the SQLite sources and object
# files (about 30 MB), then prove the addon still loads before anything is shipped.
RUN cd node_modules/better-sqlite3 \
    && mv build/Release/better_sqlite3.node /tmp/ \
    && rm -rf build deps src \
    && mkdir -p build/Release \
    && mv /tmp/better_sqlite3.node build/Release/ \
    && cd /app \
    && node -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()"

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Owned by root and read-only to the app: a compromised process cannot rewrite its own code.
# package.json is needed at run time: its "type": "module" makes dist/*.js ES modules.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/admin ./dist/admin
# The one writable place: the default DATABASE_URL (sqlite:data/waybill.db) lives here.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]

USER node
EXPOSE 3000
# Liveness with node itself (no curl in slim images). PORT is read at check time, so
# overriding it at run time keeps the check right.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The app finishes requests in flight on SIGTERM (up to SHUTDOWN_TIMEOUT_MS, 10s by default):
# give the container more than that to stop (docker stop -t 15, compose stop_grace_period).
STOPSIGNAL SIGTERM
# node as PID 1, not npm: signals reach the app and nothing sits between.
CMD ["node", "dist/src/server.js"]
