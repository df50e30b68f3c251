import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Served by the gateway at /ui (services/gateway/src/console.ts); `npm run dev` proxies /api to a
// platform on :8080.
export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false },
  server: { proxy: { '/api': 'http://localhost:8080' } },
});
