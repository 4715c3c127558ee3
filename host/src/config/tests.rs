//! Tests of option parsing, the layer merge and validation into a `TestConfig`.

use super::*;
use crate::plan::executor::{ConstantVus, Executor, PerVuIterations, RampingVus, SharedIterations};

fn resolve(text: &str) -> Result<TestConfig, ConfigError> {
    TestConfig::resolve(&parse_options(text, "test.toml")?)
}

fn err(text: &str) -> String {
    resolve(text).unwrap_err().to_string()
}

#[test]
fn shortcuts_become_the_default_scenario() {
    let t = resolve("vus = 10\nduration = \"30s\"").unwrap();
    assert_eq!(t.scenarios.len(), 1);
    assert_eq!(t.scenarios[0].name, "default");
    assert_eq!(
        t.scenarios[0].executor,
        Executor::ConstantVus(ConstantVus {
            vus: 10,
            duration: Duration::from_secs(30)
        })
    );
    let t = resolve("vus = 2\niterations = 8").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::SharedIterations(SharedIterations {
            vus: 2,
            iterations: 8,
            ..
        })
    ));
    let t = resolve("stages = [{ duration = \"10s\", target = 5 }]").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::RampingVus(RampingVus { start_vus: 1, .. })
    ));
    let t = resolve("").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::PerVuIterations(PerVuIterations {
            vus: 1,
            iterations: 1,
            ..
        })
    ));
}

#[test]
fn named_scenarios_accept_k6_camel_case() {
    let t = resolve(
        r#"
[scenarios.ramp]
executor = "ramping-vus"
startVUs = 0
stages = [{ duration = "5s", target = 3 }]
gracefulRampDown = "0s"
startTime = "2s"
"#,
    )
    .unwrap();
    let s = &t.scenarios[0];
    assert_eq!(s.start_time, Duration::from_secs(2));
    assert_eq!(s.max_vus(), 3);
    assert_eq!(
        s.description(),
        "Up to 3 looping VUs for 5s over 1 stages (gracefulRampDown: 0s, gracefulStop: 30s)"
    );
}

#[test]
fn layers_override_in_order() {
    let plugin = parse_options(
        "stages = [{ duration = \"10m\", target = 400 }]\n[thresholds]\nhttp_reqs = [\"count>0\"]",
        "plugin",
    )
    .unwrap();
    let file = parse_options("vus = 5\nduration = \"10s\"\n[env]\nA = \"1\"", "file").unwrap();
    let cli = Options {
        env: Some(BTreeMap::from([("B".to_string(), "2".to_string())])),
        vus: Some(7),
        ..Default::default()
    };
    let merged = plugin.overlay(file).overlay(cli);
    let t = TestConfig::resolve(&merged).unwrap();
    assert_eq!(
        t.scenarios[0].executor,
        Executor::ConstantVus(ConstantVus {
            vus: 7,
            duration: Duration::from_secs(10)
        })
    );
    assert_eq!(t.env.len(), 2);
    assert_eq!(
        t.thresholds.len(),
        1,
        "thresholds survive from the lower layer"
    );
}

#[test]
fn rejects_bad_input_with_the_key() {
    assert!(err("vuss = 3").contains("vuss"));
    assert!(err("duration = \"10x\"").contains("10x"));
    assert!(err("vus = -1\nduration = \"1s\"").contains("vus"));
    assert!(err("duration = \"1s\"\niterations = 2\nvus = 3").contains("iterations"));
    assert!(err("[scenarios.a]\nexecutor = \"nope\"").contains("unknown executor 'nope'"));
    assert!(err("[scenarios.a]\nexecutor = \"constant-vus\"").contains("scenarios.a.duration"));
    assert!(
        err("[scenarios.a]\nexecutor = \"constant-vus\"\nduration = \"5s\"\nstages = []")
            .contains("scenarios.a.stages: not an option")
    );
    assert!(
        err("[scenarios.\"a b\"]\nexecutor = \"constant-vus\"\nduration = \"5s\"")
            .contains("scenario names")
    );
    assert!(err("stages = [{ duration = \"1s\", target = -3 }]").contains("stages[0].target"));
    assert!(err(
        "vus = 1\nduration = \"1s\"\n[scenarios.a]\nexecutor = \"constant-vus\"\nduration = \"5s\""
    )
    .contains("cannot be combined"));
    assert!(err("duration = \"0s\"").contains("greater than 0"));
}

#[test]
fn validates_thresholds_before_the_test() {
    let ok = resolve(
        "[thresholds]\nhttp_req_duration = [\"p(95)<2000\", { threshold = \"max<5000\", abort-on-fail = true, delayAbortEval = \"10s\" }]\n\"http_req_duration{status:200}\" = \"avg<100\"",
    )
    .unwrap();
    assert_eq!(ok.thresholds.len(), 2);
    assert!(ok.thresholds[0].specs[1].abort_on_fail);
    let e = err("[thresholds]\nnot_a_metric = [\"count>0\"]");
    assert!(
        e.contains("not_a_metric") && e.contains("unknown metric"),
        "{e}"
    );
    let e = err("[thresholds]\nhttp_req_failed = [\"p(95)<1\"]");
    assert!(e.contains("does not apply to rate metric"), "{e}");
    let e = err("[thresholds]\nhttp_req_duration = [\"p95<1\"]");
    assert!(e.contains("p95<1"), "{e}");
}

/// Every option a layer can set, as TOML, with whether a plugin may suggest it.
const PLUGIN_KEYS: &[(&str, bool)] = &[
    ("plugin = \"x.wasm\"", false),
    ("registries = [\"index.toml\"]", false),
    ("vus = 2", true),
    ("duration = \"1s\"", true),
    ("iterations = 2", true),
    ("stages = [{ duration = \"1s\", target = 1 }]", true),
    ("scenarios = { a = { executor = \"constant-vus\" } }", true),
    ("thresholds = { checks = [\"rate>0.9\"] }", true),
    ("env = { BASE_URL = \"http://evil:1\" }", false),
    ("metrics = { m = \"counter\" }", true),
    ("tags = { team = \"x\" }", true),
    ("system-tags = [\"status\"]", true),
    ("no-thresholds = true", false),
    ("summary = { trend-stats = [\"avg\"] }", true),
    ("summary = { mode = \"full\" }", true),
    ("summary = { time-unit = \"ms\" }", true),
    ("summary = { export = \"/tmp/planted.json\" }", false),
    ("summary = { disabled = true }", false),
    ("sandbox = { allowed-hosts = [\"*\"] }", false),
    ("insecure-skip-tls-verify = true", false),
    ("tls-ca-file = \"ca.pem\"", false),
    ("tls-version = \"tls1.2\"", false),
    (
        "tls-auth = [{ domains = [\"a\"], cert = \"c.pem\", key = \"k.pem\" }]",
        false,
    ),
    ("h2c = true", true),
    ("user-agent = \"x\"", true),
    ("max-redirects = 2", true),
    ("expected-statuses = [200]", true),
    ("no-connection-reuse = true", true),
    ("no-vu-connection-reuse = true", true),
    ("hosts = { \"a:1\" = \"127.0.0.1:2\" }", false),
    ("block-hostnames = [\"a\"]", false),
    ("blacklist-ips = [\"10.0.0.0/8\"]", false),
    ("dns = { ttl = \"1s\" }", false),
    ("local-ips = [\"127.0.0.2\"]", false),
    ("discard-response-bodies = true", true),
    ("max-response-body-mib = 4096", false),
    ("http-debug = \"full\"", false),
    ("setup-timeout = \"1h\"", false),
    ("teardown-timeout = \"1h\"", false),
    ("registry-max-download-mib = 4096", false),
];

#[test]
fn a_plugin_suggests_only_what_a_script_author_sets() {
    for (text, allowed) in PLUGIN_KEYS {
        let layer = parse_options(text, "plugin").unwrap();
        let (kept, dropped) = layer.clone().plugin_suggestions();
        if *allowed {
            assert_eq!(kept, layer, "{text} should be kept");
            assert!(dropped.is_empty(), "{text}: {dropped:?}");
        } else {
            assert_eq!(kept, Options::default(), "{text} should be dropped");
            assert_eq!(dropped.len(), 1, "{text}: {dropped:?}");
            let key = text.split([' ', '=']).next().unwrap();
            assert!(
                dropped[0].starts_with(key),
                "{text}: warned about {}",
                dropped[0]
            );
        }
    }
}

proptest::proptest! {
    /// No layer, however odd its numbers, panics while it is resolved or planned.
    #[test]
    fn no_options_panic(
        vus in proptest::num::i64::ANY,
        iters in proptest::num::i64::ANY,
        ms in proptest::num::f64::ANY,
        target in proptest::num::i64::ANY,
        rate in proptest::num::i64::ANY,
        executor in 0usize..7,
    ) {
        let ms = if ms.is_finite() { format!("{ms:e}") } else { "1e300".into() };
        let executor = [
            "constant-vus", "ramping-vus", "shared-iterations", "per-vu-iterations",
            "constant-arrival-rate", "ramping-arrival-rate", "externally-controlled",
        ][executor];
        let texts = [
            format!("vus = {vus}\nduration = {ms}"),
            format!("vus = {vus}\niterations = {iters}\nduration = {ms}"),
            format!("vus = {vus}\nstages = [{{ duration = {ms}, target = {target} }}, {{ duration = \"1s\", target = {target} }}]"),
            format!(
                "[scenarios.s]\nexecutor = \"{executor}\"\nstart-time = {ms}\ngraceful-stop = {ms}\n{}",
                match executor {
                    "constant-vus" => format!("vus = {vus}\nduration = {ms}"),
                    "ramping-vus" => format!("start-vus = {vus}\nstages = [{{ duration = {ms}, target = {target} }}]"),
                    "shared-iterations" | "per-vu-iterations" => format!("vus = {vus}\niterations = {iters}\nmax-duration = {ms}"),
                    "constant-arrival-rate" => format!("rate = {rate}\ntime-unit = {ms}\nduration = {ms}\npre-allocated-vus = {vus}\nmax-vus = {target}"),
                    "ramping-arrival-rate" => format!("start-rate = {rate}\ntime-unit = {ms}\nstages = [{{ duration = {ms}, target = {target} }}]\npre-allocated-vus = {vus}\nmax-vus = {target}"),
                    _ => format!("vus = {vus}\nmax-vus = {target}\nduration = {ms}"),
                }
            ),
        ];
        for text in texts {
            if let Ok(test) = resolve(&text) {
                let _ = (test.max_vus(), test.max_duration());
                for sc in &test.scenarios {
                    let _ = (sc.description(), sc.max_vus(), sc.max_end());
                    let full = crate::plan::segment::ExecutionTuple::new(None, None).unwrap();
                    let _ = sc.local_max_vus(&full);
                    // Plans are walked only for tests a machine could run.
                    if sc.max_vus() <= 10_000 {
                        let _ = sc.steps();
                    }
                }
            }
        }
    }
}

#[test]
fn a_wrong_value_in_a_scenario_names_its_table_and_key() {
    let e = err("[scenarios.x]\nexecutor = \"constant-vus\"\nvus = \"a\"\nduration = \"1s\"");
    assert!(
        e.contains("(`[scenarios.x]`): vus: invalid type: string \"a\""),
        "{e}"
    );
    let e = err("[scenarios.x]\nexecutor = \"nope\"");
    assert!(
        e.contains("unknown executor 'nope' (expected constant-vus, ramping-vus,"),
        "{e}"
    );
}
