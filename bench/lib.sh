# Shared by the bench scripts (sourced from the repository's root, not run).

# nginx_static DIR PORT [WORKERS]: a static nginx answering "ok\n" on 127.0.0.1:PORT, pinned to
# CPU 1 (the generator runs on CPU 0), its files under DIR; returns once it accepts connections.
# WORKERS (default 1) processes share the port (reuseport): each holds at most the open-files
# limit's connections (nginx cannot raise its hard limit here: 20,000), so the scale runs' 100,000
# connections need several. Stop it with nginx_stop DIR.
nginx_static() {
  local prefix="$1" port="$2" workers="${3:-1}"
  mkdir -p "$prefix/logs" "$prefix/tmp"
  cat > "$prefix/nginx.conf" <<CONF
worker_processes $workers;
worker_rlimit_nofile 250000;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 240000; multi_accept on; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $prefix/tmp/client;
  proxy_temp_path $prefix/tmp/proxy;
  fastcgi_temp_path $prefix/tmp/fastcgi;
  uwsgi_temp_path $prefix/tmp/uwsgi;
  scgi_temp_path $prefix/tmp/scgi;
  server {
    listen 127.0.0.1:$port reuseport backlog=4096;
    location / { default_type text/plain; return 200 "ok\n"; }
  }
}
CONF
  taskset -c 1 nginx -p "$prefix" -c "$prefix/nginx.conf" -e "$prefix/logs/error.log"
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0; sleep 0.1; done
  echo "nginx did not start on 127.0.0.1:$port (see $prefix/logs/error.log)" >&2
  return 1
}

# nginx_stop DIR: stops the nginx nginx_static started under DIR, if it runs.
nginx_stop() {
  kill "$(cat "$1/nginx.pid" 2>/dev/null)" 2>/dev/null || true
}
