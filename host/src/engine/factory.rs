//! Creating VUs: everything a new VU needs from the test and its scenario, in one place, so
//! VUs can be made up front and (arrival-rate executors) on demand during the run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::EngineError;
use crate::metrics::{Aggregate, SystemTags};
use crate::plan::segment::ExecutionTuple;
use crate::plan::Scenario;
use crate::sandbox::Sandbox;
use crate::transport::HttpConfig;
use crate::vu::{Execution, Plugin, Recorder, RunView, ScenarioRun, Vu, VuSetup};

/// Makes VUs for one test.
#[derive(Clone)]
pub struct VuFactory {
    plugin: Arc<Plugin>,
    aggregate: Arc<Aggregate>,
    test_start: Instant,
    sandbox: Arc<Sandbox>,
    http: Arc<HttpConfig>,
    run: Arc<dyn RunView>,
    /// This process's execution segment: a VU's id in the whole test (`vu.idInTest`) is the
    /// global index its local id stands for, as k6 stripes VU ids between instances.
    segment: Arc<ExecutionTuple>,
}

/// What a scenario's VUs share.
#[derive(Clone)]
pub struct ScenarioVus {
    name: Arc<str>,
    exec: Arc<str>,
    env: Arc<BTreeMap<String, String>>,
    tags: Vec<(String, String)>,
    system: SystemTags,
    /// The scenario as `k6/execution` sees it (its iteration counter).
    run: Arc<ScenarioRun>,
}

impl ScenarioVus {
    /// VU settings for `scenario` under the test-wide `env` and `tags`.
    pub fn new(
        scenario: &Scenario,
        env: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        system: SystemTags,
    ) -> Self {
        let mut merged_env = env.clone();
        merged_env.extend(scenario.env.clone());
        let mut all_tags: BTreeMap<String, String> = tags.clone();
        all_tags.extend(scenario.tags.clone());
        if system.allows("scenario") {
            all_tags.insert("scenario".into(), scenario.name.clone());
        }
        ScenarioVus {
            name: scenario.name.as_str().into(),
            exec: scenario.exec.as_str().into(),
            env: Arc::new(merged_env),
            tags: all_tags.into_iter().collect(),
            system,
            run: ScenarioRun::new(None, ""),
        }
    }

    /// These settings for scenario `run` of the test (`k6/execution`'s view of it).
    pub fn in_run(self, run: Arc<ScenarioRun>) -> Self {
        ScenarioVus { run, ..self }
    }

    /// Settings for the setup/teardown VU.
    pub fn lifecycle(
        env: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
        system: SystemTags,
    ) -> Self {
        let mut all_tags = tags.clone();
        if system.allows("scenario") {
            all_tags.insert("scenario".into(), "setup".into());
        }
        ScenarioVus {
            name: "setup".into(),
            exec: "default".into(),
            env: Arc::new(env.clone()),
            tags: all_tags.into_iter().collect(),
            system,
            run: ScenarioRun::new(None, ""),
        }
    }
}

impl VuFactory {
    /// A factory for `plugin`'s VUs recording into `aggregate`.
    pub fn new(
        plugin: Arc<Plugin>,
        aggregate: Arc<Aggregate>,
        test_start: Instant,
        sandbox: Arc<Sandbox>,
        http: Arc<HttpConfig>,
        run: Arc<dyn RunView>,
        segment: ExecutionTuple,
    ) -> Self {
        VuFactory {
            segment: Arc::new(segment),
            plugin,
            aggregate,
            test_start,
            sandbox,
            http,
            run,
        }
    }

    /// The test-wide id of this process's VU `id` (1-based; k6's striped `SegmentedIndex`).
    fn id_in_test(&self, id: u32) -> u32 {
        match id {
            0 => 0,
            _ => u32::try_from(self.segment.nth_owned(u64::from(id) - 1))
                .map_or(u32::MAX, |global| global.saturating_add(1)),
        }
    }

    /// Creates and instantiates VU `id` for a scenario.
    pub async fn create(&self, id: u32, sc: &ScenarioVus) -> Result<Vu, EngineError> {
        let recorder = Recorder::new(&self.aggregate, sc.tags.clone(), sc.system);
        Vu::new(
            self.plugin.clone(),
            VuSetup {
                id,
                scenario: sc.name.clone(),
                exec: sc.exec.clone(),
                env: sc.env.clone(),
                recorder,
                test_start: self.test_start,
                sandbox: self.sandbox.clone(),
                http: self.http.clone(),
                execution: Execution {
                    run: self.run.clone(),
                    scenario: sc.run.clone(),
                    id_in_test: self.id_in_test(id),
                },
                init_limit: crate::vu::INIT_TIMEOUT,
            },
        )
        .await
        .map_err(|source| EngineError::Init { vu: id, source })
    }
}
