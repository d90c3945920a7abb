// Builds the browser bundle into the Python package's static directory, deterministically: the
// committed files must be what `npm ci && npm run build` makes from this source and lockfile
// (tests/integration/test_web_bundle.py rebuilds them and compares byte for byte).
//
//   node build.mjs [--outdir DIR]     (default: ../src/sealroom/server/web/static/js)
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const flag = process.argv.indexOf("--outdir");
const outdir = flag >= 0 ? process.argv[flag + 1] : join(here, "../src/sealroom/server/web/static/js");
mkdirSync(outdir, { recursive: true });

await build({
  entryPoints: {
    sealroom: join(here, "src/app.ts"),
    worker: join(here, "src/worker.ts"),
    selftest: join(here, "src/selftest.ts"),
  },
  outdir,
  bundle: true,
  format: "esm",
  target: "es2022",
  platform: "browser",
  // Readable, not minified: this code encrypts people's data, so anyone should be able to read
  // what the server hands their browser and compare it with web/src.
  minify: false,
  sourcemap: false,
  charset: "utf8",
  legalComments: "inline",
  logLevel: "warning",
});
// htmx is vendored as the file its package ships (no CDN anywhere).
copyFileSync(join(here, "node_modules/htmx.org/dist/htmx.min.js"), join(outdir, "htmx.min.js"));
