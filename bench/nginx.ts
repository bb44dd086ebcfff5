/**
 * The nginx peer's configuration: one worker, autoindex on, sendfile on, access log on; pid,
 * logs and temp paths all inside the benchmark's temp dir, run in the foreground as the
 * current user (`nginx -p DIR -c nginx.conf`).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";

function mimeTypesInclude(): string {
  return existsSync("/etc/nginx/mime.types") ? "include /etc/nginx/mime.types;" : "";
}

/** nginx drops privileges to `nobody` when started as root: keep the current user instead. */
function userDirective(): string {
  return process.getuid?.() === 0 ? `user ${userInfo().username};` : "";
}

/** Writes `DIR/nginx.conf` serving `www` on 127.0.0.1:`port`; returns the nginx arguments. */
export function nginxArgs(dir: string, www: string, port: number): string[] {
  mkdirSync(join(dir, "temp"), { recursive: true });
  const conf = `
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
  keepalive_timeout 65;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port};
    root ${www};
    autoindex on;
  }
}
`;
  const path = join(dir, "nginx.conf");
  writeFileSync(path, conf);
  return ["-p", dir, "-c", path];
}
