# syntax=docker/dockerfile:1
# One image for every Sluice process (gateway, writer, warmer, migrations):
# the compiled JavaScript of `pnpm build` with production dependencies only
# (no tsx, TypeScript, vitest or testcontainers), run by `node` as an
# unprivileged user under tini, which forwards SIGTERM to node (so a stop
# drains) and reaps zombies. docker-compose.yml picks the process:
#   docker build -t sluice .
#   docker run --rm sluice node --conditions=sluice-dist gateway/dist/main.js
# `--conditions=sluice-dist` makes `@sluice/*` imports resolve to the compiled
# files (package.json "exports"); the image has no TypeScript sources.
ARG NODE_IMAGE=node:24-bookworm-slim
ARG PNPM_VERSION=12.4.2

# --- workspace manifests and pnpm (shared by the two install stages) --------
FROM ${NODE_IMAGE} AS manifests
ARG PNPM_VERSION
# Not corepack: pinned like .ci/run does.
RUN npm install -g "pnpm@${PNPM_VERSION}" && npm cache clean --force
WORKDIR /app
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY client/package.json client/
COPY shared/package.json shared/
COPY gateway/package.json gateway/
COPY writer/package.json writer/
COPY test/package.json test/
COPY openfeature/package.json openfeature/

# --- compile: every dependency, then `pnpm build` ---------------------------
FROM manifests AS build
RUN pnpm install --frozen-lockfile
COPY tsconfig.json tsconfig.build.json tsconfig.build.base.json ./
COPY shared/ shared/
COPY writer/ writer/
COPY gateway/ gateway/
COPY scripts/ scripts/
RUN pnpm build

# --- production dependencies only ------------------------------------------
FROM manifests AS prod-deps
RUN pnpm install --prod --frozen-lockfile

# --- runtime ----------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/* \
  # npm and corepack are not needed to run Sluice: less to ship and to patch.
  && rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
     /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production
WORKDIR /app
# pnpm's node_modules are symlinks into node_modules/.pnpm: copied as they are.
COPY --from=prod-deps /app/node_modules node_modules
COPY --from=prod-deps /app/shared/node_modules shared/node_modules
COPY --from=prod-deps /app/writer/node_modules writer/node_modules
COPY --from=prod-deps /app/gateway/node_modules gateway/node_modules
COPY package.json ./
COPY shared/package.json shared/
COPY writer/package.json writer/
COPY gateway/package.json gateway/
COPY shared/migrations shared/migrations
COPY scripts/run-built.mjs scripts/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/writer/dist writer/dist
COPY --from=build /app/gateway/dist gateway/dist
COPY --from=build /app/scripts/dist scripts/dist
# Files stay root-owned and read-only to the process.
USER node
EXPOSE 3000
ENTRYPOINT ["/usr/bin/tini", "--"]
# One host, all in one container (`pnpm start`): migrations, then a gateway,
# a writer and the warmer as children. docker-compose.yml runs each alone.
CMD ["node", "--conditions=sluice-dist", "scripts/dist/start.js"]
