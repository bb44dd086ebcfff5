/**
 * The feature modules (src/features/) that `SimpleHTTPRequestHandler` loads only once an option
 * turns them on: uploads, managing files, WebDAV, the rich listing, archives,
 * search, QR codes, READMEs and compression. A server without them never compiles or keeps them — about 3 MiB of a plain server's
 * idle memory (docs/ARCHITECTURE.md, Performance).
 *
 * Once loaded, a module is a property of `loaded`, read synchronously on the request path: the
 * only cost left is a property read where the option is on. The command line loads what its
 * flags need before it serves; a program that sets the class attributes has them loaded by its
 * handlers' first request (`parse_request()` waits for them; see `loadFeaturesFor`).
 */

const LOADERS = {
  upload: () => import("../features/upload.js"),
  upload_page: () => import("../features/upload_page.js"),
  atomic_write: () => import("../features/atomic_write.js"),
  manage: () => import("../features/manage.js"),
  webdav: () => import("../features/webdav.js"),
  rich_listing: () => import("../features/rich_listing.js"),
  archive: () => import("../features/archive.js"),
  search: () => import("../features/search.js"),
  qr: () => import("../features/qr.js"),
  readme: () => import("../features/readme.js"),
  compression: () => import("../features/compression.js"),
};

export type FeatureModules = { [K in keyof typeof LOADERS]: Awaited<ReturnType<(typeof LOADERS)[K]>> };
export type FeatureName = keyof FeatureModules;

/** The feature modules loaded so far. */
export const loaded: Partial<FeatureModules> = {};

const loading = new Map<FeatureName, Promise<unknown>>();

/** Loads one feature module (once; later calls share the first import). */
export function loadFeature<K extends FeatureName>(name: K): Promise<FeatureModules[K]> {
  let promise = loading.get(name);
  if (promise === undefined) {
    promise = LOADERS[name]().then((module) => (loaded[name] = module as FeatureModules[K]));
    loading.set(name, promise);
  }
  return promise as Promise<FeatureModules[K]>;
}

/** The options (a handler's attributes) that decide which feature modules it uses. */
export interface FeatureOptions {
  upload: boolean;
  allow_delete: boolean;
  allow_mkdir: boolean;
  allow_move: boolean;
  webdav: boolean;
  listing: string;
  archive: boolean;
  search: boolean;
  compress: boolean;
  precompressed: boolean;
}

/** Each option that needs modules, and the modules it needs (a table: checked per connection). */
const NEEDS: readonly [uses: (options: FeatureOptions) => boolean, modules: readonly FeatureName[]][] = [
  [(o) => o.upload, ["upload", "upload_page", "atomic_write"]],
  [(o) => o.allow_delete || o.allow_mkdir || o.allow_move, ["manage"]],
  [(o) => o.webdav, ["webdav"]],
  [(o) => o.listing === "rich", ["rich_listing"]],
  [(o) => o.archive, ["archive"]],
  [(o) => o.search, ["search"]],
  [(o) => o.compress || o.precompressed, ["compression"]],
];

/**
 * Loads the modules `options` use that are not loaded yet; null (not a Promise, no allocation)
 * when there are none, as for every handler once its modules are in, and for one without options.
 */
export function loadFeaturesFor(options: FeatureOptions): Promise<void> | null {
  let pending: Promise<unknown>[] | null = null;
  for (const [uses, modules] of NEEDS) {
    if (!uses(options)) continue;
    for (const name of modules) if (loaded[name] === undefined) (pending ??= []).push(loadFeature(name));
  }
  return pending && Promise.all(pending).then(() => {});
}
