import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The bundle is committed and embedded in the Go binary (web/embed.go), so
// the build must be byte-for-byte reproducible from package-lock.json: no
// timestamps, no absolute paths, no source maps pointing at this machine.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 4096,
    rolldownOptions: {
      output: {
        // Libraries change rarely; keeping them apart lets a browser keep
        // its cached copy across console releases.
        codeSplitting: {
          groups: [
            { name: 'antd', test: /node_modules[\\/](antd|@ant-design|rc-|@rc-component)/ },
            { name: 'graph', test: /node_modules[\\/](@xyflow|@dagrejs|d3-)/ },
            { name: 'codemirror', test: /node_modules[\\/](@codemirror|@uiw|@lezer|codemirror)/ },
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|react-router)[\\/]/ },
          ],
        },
      },
    },
  },
  server: {
    // `npm run dev` proxies the API to a running `baton dev`.
    proxy: {
      '/api': process.env.BATON_API ?? 'http://127.0.0.1:8080',
      '/healthz': process.env.BATON_API ?? 'http://127.0.0.1:8080',
    },
  },
});
