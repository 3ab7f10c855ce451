/**
 * The dashboard's build: `npm run build` (scripts/build.mjs) writes it to
 * dist/web, which telehub serves at `/`. For work on the pages, `npx vite web`
 * serves them with live reload and passes the API through to a telehub on
 * :8080 (TELEHUB_DEV_API overrides).
 */
import { defineConfig } from 'vite';

const api = process.env.TELEHUB_DEV_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root: import.meta.dirname,
  // Relative asset URLs: the page works behind a reverse proxy under any path.
  base: './',
  build: { outDir: '../dist/web', emptyOutDir: true, chunkSizeWarningLimit: 200 },
  server: { proxy: { '/api': { target: api, ws: true }, '/metrics': api } },
  logLevel: 'warn',
});
