#!/usr/bin/env node
/**
 * The package.json that goes into the tarball has no `prepare` script.
 *
 * `prepare` (tsc) is what builds a git install: npm runs it, and only it, in the clone before
 * packing a git dependency (a `prepack` alone leaves a git install without dist/). But in a
 * tarball it is an install script that npm asks users to approve (`install-scripts … not yet
 * covered by allowScripts`), though there it has nothing left to build. So `prepack` builds and
 * then runs `strip`, which saves package.json aside and removes `prepare` from it; `postpack`
 * runs `restore`. A pack that died between the two is repaired by the next `strip` or `restore`.
 *
 * Usage: node scripts/pack-manifest.mjs strip|restore
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const manifest = "package.json";
const saved = ".package.json.before-pack";

function restore() {
  if (existsSync(saved)) renameSync(saved, manifest);
}

function strip() {
  restore();
  const text = readFileSync(manifest, "utf8");
  const pkg = JSON.parse(text);
  if (!pkg.scripts?.prepare) return;
  writeFileSync(saved, text);
  delete pkg.scripts.prepare;
  writeFileSync(manifest, JSON.stringify(pkg, null, 2) + "\n");
}

const action = { strip, restore }[process.argv[2] ?? ""];
if (!action) {
  process.stderr.write("usage: node scripts/pack-manifest.mjs strip|restore\n");
  process.exit(2);
}
action();
