// Builds src/index.js into a single self-contained IIFE: dist/widget.js (CSS is bundled
// as text and injected by the script) plus a copy of the CSS as dist/widget.css.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

const watch = process.argv.includes("--watch");
mkdirSync("dist", { recursive: true });
copyFileSync("src/styles.css", "dist/widget.css");

const options = {
  entryPoints: ["src/index.js"],
  outfile: "dist/widget.js",
  bundle: true,
  format: "iife",
  target: ["es2020"],
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  loader: { ".css": "text" },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
