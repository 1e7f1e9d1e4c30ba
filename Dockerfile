# One image for every Sluice process (gateway, writer, migrate): the pnpm
# workspace run from source with tsx, as `pnpm start:*` does on a host.
FROM node:20-bookworm-slim
RUN npm install -g pnpm@12.4.2
WORKDIR /app
# Manifests first: the dependency layer is rebuilt only when they change.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY client/package.json client/
COPY shared/package.json shared/
COPY gateway/package.json gateway/
COPY writer/package.json writer/
COPY test/package.json test/
RUN pnpm install --frozen-lockfile
COPY . .
ENV NODE_ENV=production
EXPOSE 3000
CMD ["pnpm", "start"]
