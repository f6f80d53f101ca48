# tracegate gate image. Build: docker build -t ghcr.io/tracegate/tracegate:0.1.0 .
# Pinned to Node 20's minor line: package.json needs >= 20.19, and @kubernetes/client-node 1.4 runs on it.
ARG NODE_IMAGE=node:20.19-bookworm-slim

# Stage 1: compile the TypeScript with the dev dependencies, then remove them.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Stage 2: only what runs — compiled code, production dependencies, the launcher and bundled policies.
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY policies ./policies
# The web view's stylesheet (tracegate ui), found at run time beside the sources: src/ui/start.ts.
COPY src/ui/static ./src/ui/static
# 1000 = the image's `node` user, given numerically so the kubelet can verify runAsNonRoot.
# Everything above stays root-owned: the gate cannot modify its own code or policies.
USER 1000:1000
EXPOSE 8443
# bin/tracegate.js runs dist/main.js; any command works (`docker run IMAGE certs --help`), serve is the default.
ENTRYPOINT ["node", "/app/bin/tracegate.js"]
CMD ["serve"]
