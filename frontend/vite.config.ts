/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const backend = process.env.BAKEHOUSE_BACKEND ?? "http://127.0.0.1:8000";

// Django serves frontend/dist under /static/ (whitenoise) and dist/index.html for every
// path that is not the API, so the app is built with base "/static/" and routes on the client.
export default defineConfig(({ command }) => ({
  // The dev server serves the app at / (so /login and /projects/3/dataset load directly).
  base: command === "build" ? "/static/" : "/",
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      "/api": { target: backend, changeOrigin: false },
      "/media": { target: backend, changeOrigin: false },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 900,
    rollupOptions: {
      output: {
        // Libraries change less often than the app: separate chunks stay cached across releases.
        manualChunks(id: string) {
          if (!id.includes("node_modules")) return undefined;
          if (/node_modules\/(recharts|d3-|victory-vendor|@mantine\/charts|decimal\.js|lodash)/.test(id)) return "charts";
          if (/node_modules\/(@mantine|@floating-ui|react-remove-scroll|react-dropzone|clsx)/.test(id)) return "mantine";
          if (/node_modules\/(react|react-dom|scheduler|react-router|@tanstack)\//.test(id)) return "react";
          return "vendor";
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    globals: false,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
    unstubGlobals: true,
  },
}));
