use super::*;

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
        Executor::ConstantVus {
            vus: 10,
            duration: Duration::from_secs(30)
        }
    );
    let t = resolve("vus = 2\niterations = 8").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::SharedIterations {
            vus: 2,
            iterations: 8,
            ..
        }
    ));
    let t = resolve("stages = [{ duration = \"10s\", target = 5 }]").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::RampingVus { start_vus: 1, .. }
    ));
    let t = resolve("").unwrap();
    assert!(matches!(
        t.scenarios[0].executor,
        Executor::PerVuIterations {
            vus: 1,
            iterations: 1,
            ..
        }
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
        Executor::ConstantVus {
            vus: 7,
            duration: Duration::from_secs(10)
        }
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
