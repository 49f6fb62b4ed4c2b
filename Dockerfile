# livemask container images. Two targets:
#   docker build --target cpu -t livemask:cpu .
#   docker build --target gpu -t livemask:gpu .
# Both run `livemask serve` as a non-root user, with a HEALTHCHECK on /healthz;
# pass LIVEMASK_TOKEN_SECRET or LIVEMASK_TOKEN_PUBLIC_KEY (or `serve --demo`).
# `docker run ... livemask:cpu mask /in.mp4 -o /data/out.mp4` masks a file.
# Each runs the same commands as the README's setup (scripts/setup.sh does the
# ffmpeg check and `npm ci`, which builds dist/ and extracts and verifies the
# models), so the image is what CI tests.

FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY models ./models
COPY bin ./bin
COPY src ./src
COPY workers ./workers
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN bash scripts/setup.sh && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim AS cpu
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
ENV NODE_ENV=production LIVEMASK_DATA=/data LIVEMASK_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.LIVEMASK_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/livemask.js"]
CMD ["serve"]

# GPU: a CUDA 12 runtime with cuDNN 9, Node 20 and Debian's ffmpeg. The CUDA
# provider libraries of onnxruntime-node are installed by its own install
# script (ONNXRUNTIME_NODE_INSTALL=cuda12), which needs to reach its download
# host: build this target where that host is reachable.
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS gpu
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg ca-certificates curl \
    && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \
    && apt-get install -y --no-install-recommends nodejs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app /app
RUN cd /app && ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
RUN useradd --create-home --uid 10001 livemask && mkdir -p /data && chown livemask /data
USER livemask
# The masked renditions' detectors on CUDA (they fall back to the CPU, logging why, where it does not load),
# on one shared thread whose batch-N models take up to 8 streams' frames per inference call.
ENV NODE_ENV=production LIVEMASK_DATA=/data LIVEMASK_HOST=0.0.0.0 LIVEMASK_EP=cuda LIVEMASK_DETECT_BATCH=8
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.LIVEMASK_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "bin/livemask.js"]
CMD ["serve"]
