# telehub image: docker build -t telehub .
# Node.js 24 is the current LTS (README: Supported Node.js versions).
FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary when it can and builds otherwise.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# npm ci runs the `prepare` script (scripts/build.mjs --if-possible), which
# skips the build here: the sources come next, then `npm run build`.
COPY scripts/build.mjs ./scripts/
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY web ./web
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production TELEHUB_DATA_DIR=/data
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
VOLUME /data
EXPOSE 1883 9001 8080
USER node
HEALTHCHECK --interval=15s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+(process.env.TELEHUB_HTTP_PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The heap ceiling keeps V8 from growing the heap lazily towards its default
# (a quarter of RAM); see docs/operations.md, "Memory".
CMD ["node", "--enable-source-maps", "--max-old-space-size=1024", "dist/cli/main.js", "start"]
