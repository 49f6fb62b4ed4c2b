# livemask container images. Two targets:
#   docker build --target cpu -t livemask:cpu .
#   docker build --target gpu -t livemask:gpu .
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
USER node
ENV NODE_ENV=production
ENTRYPOINT ["node", "bin/livemask.js"]
CMD ["--help"]

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
RUN useradd --create-home --uid 10001 livemask
USER livemask
ENV NODE_ENV=production
ENTRYPOINT ["node", "bin/livemask.js"]
CMD ["--help"]
