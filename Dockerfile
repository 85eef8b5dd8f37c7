# syntax=docker/dockerfile:1
# The cloud tier's image: one entrypoint, `edgewave`, with the component as its argument
# (bridge | processor | api; the API serves the web app). Built from the repository root:
#   docker build -t ghcr.io/OWNER/edgewave:0.1.0 .
# Two stages: the build (dev dependencies, dsp.wasm, dist/, the web app), then a small runtime
# with production dependencies only, run as an unprivileged user.

FROM node:20.19-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
# Without the dependencies' install scripts; the project's fixes to them (patches/) applied.
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npx patch-package
COPY asconfig.json tsconfig.json tsconfig.build.json ./
COPY protocol ./protocol
COPY dsp ./dsp
COPY edge ./edge
COPY cloud ./cloud
COPY web ./web
COPY bin ./bin
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20.19-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/cloud/model/activity-gru.onnx ./cloud/model/activity-gru.onnx
# An unprivileged user that owns nothing in the image: the root filesystem can be read-only.
USER 10001:10001
EXPOSE 8080 9465 9466
ENTRYPOINT ["node", "/app/bin/edgewave.js"]
CMD ["--help"]
