// The Monte Carlo scenario in C: the same requests, check, sleep and options as the Rust plugin
// (plugins/montecarlo). Every VU sends `GET ${BASE_URL}/` to a CPU-heavy Monte Carlo endpoint,
// checks for a 200 and sleeps 0.5 s.
//
// Bindings: `wit-bindgen c` generates gen/scenario.{h,c}; build.sh compiles everything for
// wasm32-wasi with zig cc and wraps it into a component with wasm-tools.

#include <stdlib.h>
#include <string.h>

#include "scenario.h"

static const char OPTIONS[] =
    "stages = [\n"
    "  { duration = \"2m\", target = 100 },\n"
    "  { duration = \"6m\", target = 400 },\n"
    "  { duration = \"2m\", target = 0 },\n"
    "]\n"
    "\n"
    "[thresholds]\n"
    "http_req_duration = [\"p(95)<2000\"]\n"
    "http_req_failed = [\"rate<0.01\"]\n";

// A borrowed string view of a C string (for import arguments, which the callee only reads).
static scenario_string_t str(const char *s) {
  scenario_string_t out = {(uint8_t *)s, strlen(s)};
  return out;
}

// An owned error message for an export's `err` (freed by the generated post-return function).
static bool fail(scenario_string_t *err, const char *message) {
  scenario_string_dup(err, message);
  return false;
}

void exports_scenario_options(scenario_string_t *ret) { scenario_string_dup(ret, OPTIONS); }

bool exports_scenario_setup(scenario_string_t *ret, scenario_string_t *err) {
  (void)err;
  scenario_string_dup(ret, "");
  return true;
}

bool exports_scenario_teardown(scenario_string_t *data, scenario_string_t *err) {
  (void)err;
  scenario_string_free(data);
  return true;
}

bool exports_scenario_iteration(scenario_string_t *data, scenario_string_t *err) {
  scenario_string_free(data);

  scenario_string_t name = str("BASE_URL");
  scenario_string_t base;
  if (!volley_scenario_vu_env(&name, &base)) {
    return fail(err, "BASE_URL is not set (pass -e BASE_URL=http://host:port)");
  }
  // url = BASE_URL + "/"
  size_t len = base.len + 1;
  uint8_t *url = malloc(len);
  if (url == NULL) {
    scenario_string_free(&base);
    return fail(err, "out of memory");
  }
  memcpy(url, base.ptr, base.len);
  url[base.len] = '/';
  scenario_string_free(&base);

  volley_scenario_http_header_t headers[] = {
      {str("Content-Type"), str("application/json")},
      {str("Connection"), str("keep-alive")},
  };
  volley_scenario_http_request_t req = {
      .method = str("GET"),
      .url = {url, len},
      .headers = {headers, 2},
      .body = {.is_some = false},
      .timeout_ms = {.is_some = true, .val = 60000},
      .tags = {NULL, 0},
      .body_mode = VOLLEY_SCENARIO_HTTP_BODY_MODE_KEEP,
  };
  volley_scenario_http_response_t res;
  volley_scenario_http_http_error_t http_err;
  bool ok = volley_scenario_http_send(&req, &res, &http_err);
  free(url);

  scenario_string_t check_name = str("is status 200");
  volley_scenario_checks_check(&check_name, ok && res.status == 200);
  if (ok) {
    volley_scenario_http_response_free(&res);
  } else {
    volley_scenario_http_http_error_free(&http_err);
  }

  volley_scenario_timing_sleep(500);
  return true;
}
