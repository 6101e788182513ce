# syntax=docker/dockerfile:1
#
# One image for every role of the supergraph, compiled JavaScript only; the command picks the role:
#   node --enable-source-maps router/index.js                    router         :4000 (default)
#   node --enable-source-maps subgraphs/main.js users            users          :4001
#   node --enable-source-maps subgraphs/main.js tasks            tasks          :4002
#   node --enable-source-maps subgraphs/main.js notifications    notifications  :4003
# (any subgraph of subgraphs/index.ts by name). docker-compose.yml runs each in its own
# container. Configuration: lib/config.ts (envSchema).

ARG NODE_IMAGE=node:24-bookworm-slim

# All dependencies, for the compiler.
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# patches/: fixes carried on top of dependencies, applied by npm ci's postinstall (patch-package).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund

# `npm run build`: dist/ is the app root, laid out like the source (package.json's "imports"
# maps #lib/* to ./lib/*, and migrations and schemas are read next to the compiled modules).
FROM deps AS build
COPY tsconfig.json tsconfig.build.json main.ts supergraph.ts ./
COPY scripts/build.ts ./scripts/
COPY lib ./lib
COPY router ./router
COPY schema ./schema
COPY subgraphs ./subgraphs
RUN npm run build

# Production dependencies and the compiled tree; no compiler, no sources, no tests.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist/ ./
COPY docker/healthcheck.mjs ./docker/
# Code stays root-owned and read-only to the service; only the embedded-database folder
# (used when no *_DATABASE_URL is set) is writable.
RUN mkdir -p .data && chown node:node .data
USER node
EXPOSE 4000 4001 4002 4003
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "docker/healthcheck.mjs"]
CMD ["node", "--enable-source-maps", "router/index.js"]
