# The meshmove worker's image: `docker build -t meshmove:0.1.0 .` (deploy/ runs it).
# Debian, not Alpine: Temporal's core bridge ships glibc builds only.
ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the package's `prepare` (the build) needs the sources copied below.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY workflows ./workflows
COPY activities ./activities
COPY worker ./worker
COPY client ./client
COPY plan ./plan
COPY mesh ./mesh
COPY twin ./twin
COPY lab ./lab
COPY logging ./logging
COPY traffic ./traffic
COPY kube-retry ./kube-retry
# client/commands/twin.ts imports scripts/gen-twin-scenario.ts (compiled to dist/scripts/).
COPY scripts ./scripts
# tsc, then the workflow bundle (dist/workflows.bundle.js, written last: the worker loads it instead
# of running webpack at start, as long as it is the newest file of dist/).
RUN npm run build

FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
# COPY keeps the build's modification times, so the bundle stays the newest file of dist/.
COPY --from=build /src/dist ./dist
# The working directory, where relative backup locations land (deploy/ mounts a volume there).
RUN mkdir -p /var/lib/meshmove && chown 1000:1000 /var/lib/meshmove
# The node image's unprivileged user (uid 1000; deploy/worker.yaml runs as it, read-only root).
USER 1000:1000
WORKDIR /var/lib/meshmove
# /healthz, /readyz and /metrics (MESHMOVE_HTTP_ADDRESS).
EXPOSE 9464
ENTRYPOINT ["node", "/app/bin/meshmove.js"]
CMD ["worker"]
