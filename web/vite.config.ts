// The web app: the live dashboard (index.html) and the kernel lab (lab.html). `npm run build` puts
// it in dist/web, which the API serves; `npm run dev:web` runs Vite's dev server against a running
// API (EW_API_URL, default http://127.0.0.1:8080), with the API's routes proxied.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const api = process.env.EW_API_URL ?? 'http://127.0.0.1:8080';
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('.'),
  base: './',
  // The dashboard's fetches and socket go to the page's own origin: the API in production, this proxy in development.
  server: {
    host: '127.0.0.1',
    fs: { allow: [here('..')] },
    proxy: {
      '/sensors': api,
      '/sessions': api,
      '/lab/': api,
      '/docs': api,
      '/metrics': api,
      '/ws': { target: api.replace(/^http/, 'ws'), ws: true },
    },
  },
  // onnxruntime-web loads its .wasm by URL: served as it is, not pre-bundled.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: { dashboard: here('index.html'), lab: here('lab.html') },
      // The Node modules the shared code imports only when it runs in Node.
      external: [/^node:/],
      // zod's sources carry comments Rollup cannot place; they change nothing in the output.
      onwarn: (w, warn) => (w.code === 'INVALID_ANNOTATION' ? undefined : warn(w)),
    },
  },
});
