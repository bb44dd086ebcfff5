/**
 * The nginx peers' configuration: one worker, `sendfile on; tcp_nopush on;`, access log on (we
 * log every request too), autoindex on; gzip on the fly at zlib's level 6 (node:zlib's default,
 * what `--compress` uses) and brotli at quality 5 with a 512 KiB window (ours) when Debian's brotli
 * modules are installed; `gzip_static` / `brotli_static` under `/pre/` (`--precompressed`). The
 * TLS instance serves the benchmark's certificate over TLS 1.3 only, the cipher suite chosen by
 * the client (which offers one). Pid, logs and temp paths all inside the benchmark's temp dir,
 * run in the foreground as the current user (`nginx -p DIR -c nginx.conf`).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";

/** Where Debian's `libnginx-mod-http-brotli-{filter,static}` put their modules. */
const BROTLI_MODULES = [
  "/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so",
  "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so",
];

/** Whether nginx can compress with brotli here (both modules installed). */
export function nginxHasBrotli(): boolean {
  return BROTLI_MODULES.every((path) => existsSync(path));
}

function mimeTypesInclude(): string {
  return existsSync("/etc/nginx/mime.types") ? "include /etc/nginx/mime.types;" : "";
}

/** nginx drops privileges to `nobody` when started as root: keep the current user instead. */
function userDirective(): string {
  return process.getuid?.() === 0 ? `user ${userInfo().username};` : "";
}

const COMPRESSIBLE = "text/plain text/css application/javascript text/javascript application/json image/svg+xml";

function compression(brotli: boolean): string {
  const lines = [
    "gzip on;",
    "gzip_comp_level 6;",
    "gzip_min_length 1024;",
    "gzip_vary on;",
    `gzip_types ${COMPRESSIBLE};`,
  ];
  if (brotli) lines.push("brotli on;", "brotli_comp_level 5;", "brotli_window 512k;", "brotli_min_length 1024;", `brotli_types ${COMPRESSIBLE};`);
  return lines.join("\n  ");
}

function precompressed(brotli: boolean): string {
  return `location /pre/ { gzip_static on;${brotli ? " brotli_static on;" : ""} }`;
}

export interface NginxTLS {
  cert: string;
  key: string;
}

/** Writes `DIR/nginx.conf` serving `www` on 127.0.0.1:`port` (over TLS with `tls`); returns the nginx arguments. */
export function nginxArgs(dir: string, www: string, port: number, tls?: NginxTLS): string[] {
  mkdirSync(join(dir, "temp"), { recursive: true });
  const brotli = nginxHasBrotli();
  const modules = brotli ? BROTLI_MODULES.map((path) => `load_module ${path};`).join("\n") : "";
  const listen = tls
    ? `listen 127.0.0.1:${port} ssl;\n    ssl_certificate ${tls.cert};\n    ssl_certificate_key ${tls.key};\n    ssl_protocols TLSv1.3;`
    : `listen 127.0.0.1:${port};`;
  const conf = `
${modules}
${userDirective()}
daemon off;
master_process on;
worker_processes 1;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 4096; }
http {
  ${mimeTypesInclude()}
  default_type application/octet-stream;
  access_log ${join(dir, "access.log")};
  client_body_temp_path ${join(dir, "temp")};
  proxy_temp_path ${join(dir, "temp")};
  fastcgi_temp_path ${join(dir, "temp")};
  uwsgi_temp_path ${join(dir, "temp")};
  scgi_temp_path ${join(dir, "temp")};
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 1000000;
  ${compression(brotli)}
  server {
    ${listen}
    root ${www};
    autoindex on;
    ${precompressed(brotli)}
  }
}
`;
  const path = join(dir, "nginx.conf");
  writeFileSync(path, conf);
  return ["-p", dir, "-c", path];
}
