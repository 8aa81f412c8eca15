# syntax=docker/dockerfile:1
# Images for the Compose stack (docker-compose.yml): `--target worker` (Piper TTS worker, gRPC 7001,
# HTTP 9090) and `--target orchestrator` (WebSocket 8080, HTTP 8081 with the web client).
#
# Base: Debian 13 (trixie) with Node.js 20. Trixie ships eSpeak NG 1.52, the release Piper
# phonemizes with (Debian 12 has 1.51, which transcribes English differently), and glibc 2.41,
# which onnxruntime-node and the LiveKit native binding (glibc >= 2.28) need; musl (Alpine) is
# not an option for either.
ARG NODE_IMAGE=node:20-trixie-slim

# ---- build: all dependencies, the web client, the services compiled to JavaScript ------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
# --ignore-scripts: the only install script that matters here is the project's postinstall, which
# would fetch eSpeak NG into vendor/; the images take it from Debian instead. Native modules
# (onnxruntime-node, koffi, LiveKit) ship prebuilt binaries inside their packages.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# `build`: the browser client, into clients/web/dist (optional, so the image builds without it).
# `build:server`: the services compiled to JavaScript with their configs, into dist/server, laid
# out as /app below (scripts/build-server.mjs; the Compose stack test runs the same output).
RUN npm run build --if-present && mkdir -p clients/web/dist && npm run build:server
# Production dependencies only, and only this platform's native binaries: onnxruntime-node ships
# Windows and macOS builds (~220 MB); onnxruntime-web (~145 MB) comes with @ricky0123/vad-web, of
# which the orchestrator reads only the Silero model file.
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && arch="$(node -p process.arch)" \
 && find node_modules/onnxruntime-node/bin -mindepth 2 -maxdepth 2 ! -name linux -exec rm -rf {} + \
 && find node_modules/onnxruntime-node/bin -mindepth 3 -maxdepth 3 ! -name "$arch" -exec rm -rf {} + \
 && rm -rf node_modules/onnxruntime-web \
 && test -f node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx

# The worker never talks to LiveKit.
FROM build AS worker-modules
RUN rm -rf node_modules/@livekit node_modules/livekit-server-sdk

# ---- worker ------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS worker
# libespeak-ng1 brings espeak-ng-data, libpcaudio0 and libsonic0; the phonemizer loads it by name.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libespeak-ng1 \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=worker-modules /src/node_modules ./node_modules
COPY --from=build /src/dist/server ./
# Voices are mounted read-only at /voicepacks (docker-compose.yml); never baked into the image.
ENV VOICEPACKS_DIR=/voicepacks
# Two glibc malloc arenas instead of one per allocating thread: ~10 MB less peak RSS (README).
ENV MALLOC_ARENA_MAX=2
USER node
EXPOSE 7001 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "scripts/healthcheck.mjs", "http://127.0.0.1:9090/health"]
CMD ["node", "--max-semi-space-size=2", "workers/tts/main.js"]

# ---- orchestrator ------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS orchestrator
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/server ./
COPY --from=build /src/clients/web/dist ./clients/web/dist
USER node
EXPOSE 8080 8081
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "scripts/healthcheck.mjs", "http://127.0.0.1:8081/health"]
CMD ["node", "orchestrator/main.js"]
