# One image, two roles chosen by the command:
#   gateway (default): node src/bin/gateway.ts   — ports 3000 (webhooks) and 3001 (admin)
#   worker:            node src/bin/worker.ts — no port
# Node runs the TypeScript sources itself (type stripping, Node >= 22.18): no build step to drift from the tests.

# Node 24 LTS on Debian 12. The tag follows Node 24's patch releases; pin a digest
# (node:24-bookworm-slim@sha256:…) for byte-identical rebuilds.
ARG NODE_IMAGE=node:24-bookworm-slim

# Production dependencies only. Install scripts are skipped: the native extra
# (msgpackr) ships prebuilt binaries as optional packages, and the slim
# image has no compiler for node-gyp anyway.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Optional gate: `docker build --target check .` type-checks with the dev dependencies.
FROM ${NODE_IMAGE} AS check
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx tsc --noEmit -p .

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    ADMIN_PORT=3001
WORKDIR /app
# Code stays root-owned (the process cannot rewrite itself); only data/ is writable.
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY schemas ./schemas
COPY src ./src
COPY workers ./workers
RUN mkdir -p /app/data/outputs && chown -R node:node /app/data
USER node
EXPOSE 3000 3001
STOPSIGNAL SIGTERM
# The gateway's liveness probe, with node itself (no curl in the image). Workers
# have no HTTP port: docker-compose.yml disables this check for them.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "src/bin/gateway.ts"]
