//! Virtual users: one wasmtime Store and component instance each, made from the plugin's
//! `InstancePre`. A trap ends the current call; the VU then gets a fresh instance (keeping its
//! connections and recorder) and the test goes on.

mod bindings;
mod cookies;
mod crypto;
mod execution;
mod failure;
mod fiber_stack;
mod grpc;
mod grpc_stream;
mod http;
mod init;
mod locations;
mod plugin;
mod recorder;
mod state;
mod summary;
mod tcp;
mod websocket;
mod websocket_events;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

pub use execution::{Execution, RunView, ScenarioRun, MARKED_AS_FAILED, MAX_FAIL_LOGS};
pub use init::SharedData;
pub use plugin::{maps_per_vu, Plugin, PluginError, PoolSize, WORLD_VERSION};
pub use recorder::Recorder;
pub use state::{VuSetup, VuState};
pub use summary::HANDLE_SUMMARY_TIMEOUT;

use bindings::Scenario;

/// Why a call into the guest did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestError {
    /// The guest returned an error (k6: an exception).
    #[error("{0}")]
    Failed(String),
    /// The guest trapped (panic, out of memory, unreachable, ...).
    #[error("trap: {0}")]
    Trap(String),
    /// The guest called `test.abort(reason)` (k6/execution): the whole test stops.
    #[error("test aborted: {0}")]
    Aborted(String),
    /// The call did not return within its time bound; the instance was dropped.
    #[error("{call} did not finish within {}", crate::duration::format_duration(*limit))]
    Timeout {
        /// The export or step, e.g. `setup()`.
        call: &'static str,
        /// The bound.
        limit: Duration,
    },
}

/// Longest instantiation or `options()` call: a guest spinning in its start function or
/// its options cannot hold `volley run` or `volley inspect`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(60);

/// One virtual user.
pub struct Vu {
    plugin: Arc<Plugin>,
    /// Always `Some` except while being replaced in [`Vu::instance`].
    store: Option<Store<VuState>>,
    instance: Option<Scenario>,
    /// The component instance behind `instance` (for exports the bindings do not require).
    raw: Option<wasmtime::component::Instance>,
    /// Whether the current Store has had an instance (then a new instance needs a new Store).
    used: bool,
    /// What `options` returned when the instance's init context ran (see [`Vu::instance`]).
    init_options: Option<String>,
}

impl Vu {
    /// Creates and instantiates a VU.
    pub async fn new(plugin: Arc<Plugin>, setup: VuSetup) -> Result<Vu, GuestError> {
        let mut state = VuState::new(setup);
        state.init.files = plugin.files.clone();
        state.init.shared = match &plugin.shared {
            Some(made) => init::Shared::Made(made.clone()),
            None => init::Shared::Making(SharedData::default()),
        };
        let store = new_store(&plugin, state);
        let mut vu = Vu {
            plugin,
            store: Some(store),
            instance: None,
            raw: None,
            used: false,
            init_options: None,
        };
        vu.instance().await?;
        Ok(vu)
    }

    /// The VU's host-side state.
    pub fn state(&mut self) -> &mut VuState {
        self.store().data_mut()
    }

    fn store(&mut self) -> &mut Store<VuState> {
        self.store
            .as_mut()
            .expect("a VU always has a Store outside Vu::instance")
    }

    /// Calls the guest's `options` export, bounded by [`INIT_TIMEOUT`].
    pub async fn options(&mut self) -> Result<String, GuestError> {
        self.instance().await?;
        if let Some(text) = self.init_options.take() {
            return Ok(text);
        }
        let (inst, store) = self.parts()?;
        let r = bounded("options()", INIT_TIMEOUT, inst.call_options(store)).await;
        self.settle_bounded(r.map(|r| r.map(Ok)))
    }

    /// Calls the guest's `setup` export, ended after `limit` (k6's `setupTimeout`).
    pub async fn setup(&mut self, limit: Duration) -> Result<String, GuestError> {
        self.instance().await?;
        let (inst, store) = self.parts()?;
        let r = bounded("setup()", limit, inst.call_setup(store)).await;
        self.settle_bounded(r)
    }

    /// Runs one iteration, ended with an error at the sandbox's `max-iteration-duration`.
    pub async fn iteration(&mut self, data: &str) -> Result<(), GuestError> {
        self.instance().await?;
        self.state().recorder.reset_groups();
        self.state().client.begin_iteration();
        let limit = self.state().sandbox.max_iteration_duration;
        // The CPU budget counts this call only: not instantiation, setup or teardown.
        self.state().cpu_ticks = Some(0);
        let state = self.state();
        state.scenario_iteration = state.execution.scenario.next_iteration();
        let (inst, store) = self.parts()?;
        let call = inst.call_iteration(store, data);
        let r = match limit {
            None => Ok(call.await),
            Some(limit) => tokio::time::timeout(limit, call).await,
        };
        self.state().cpu_ticks = None;
        match r {
            Ok(r) => self.settle(r),
            Err(_) => {
                self.discard_instance();
                Err(GuestError::Trap(format!(
                    "iteration ended after max-iteration-duration ({limit:?})",
                    limit = limit.unwrap_or_default()
                )))
            }
        }
    }

    /// Calls the guest's `teardown` export, ended after `limit` (k6's `teardownTimeout`).
    pub async fn teardown(&mut self, data: &str, limit: Duration) -> Result<(), GuestError> {
        self.instance().await?;
        let (inst, store) = self.parts()?;
        let r = bounded("teardown()", limit, inst.call_teardown(store, data)).await;
        self.settle_bounded(r)
    }

    /// Drops the instance after a call was cut short (its state is undefined); the next call
    /// starts from a fresh one.
    pub fn discard_instance(&mut self) {
        self.instance = None;
    }

    fn parts(&mut self) -> Result<(&Scenario, &mut Store<VuState>), GuestError> {
        match (&self.instance, &mut self.store) {
            (Some(i), Some(s)) => Ok((i, s)),
            _ => Err(GuestError::Trap("VU has no instance".into())),
        }
    }

    async fn instance(&mut self) -> Result<(), GuestError> {
        if self.instance.is_some() {
            return Ok(());
        }
        // Boxed: instantiating is the largest state of every call's future (an iteration's
        // included), which would otherwise be moved whole on each call; it runs once per VU.
        Box::pin(self.instantiate()).await
    }

    async fn instantiate(&mut self) -> Result<(), GuestError> {
        if self.used {
            // The old instance may be poisoned and still holds its pool slot: start over with
            // a fresh Store, keeping the VU's connections and recorder.
            if let Some(old) = self.store.take() {
                let mut state = old.into_data();
                state.reset_wasi();
                self.store = Some(new_store(&self.plugin, state));
            }
        }
        self.used = true;
        let plugin = self.plugin.clone();
        let failed = |e: wasmtime::Error| {
            let e = format!("{e:#}");
            match crate::limits::explain(&e) {
                Some(limit) => GuestError::Trap(format!("instantiation failed: {e}: {limit}")),
                None => GuestError::Trap(format!("instantiation failed: {e}")),
            }
        };
        let raw = bounded(
            "instantiation",
            INIT_TIMEOUT,
            plugin.pre.instance_pre().instantiate_async(self.store()),
        )
        .await?
        .map_err(failed)?;
        let inst = plugin.indices.load(self.store(), &raw).map_err(failed)?;
        self.instance = Some(inst);
        self.raw = Some(raw);
        if self.plugin.runs_init {
            self.run_init().await?;
        }
        Ok(())
    }

    /// Runs the new instance's init context (k6's: the script's top level, once per VU) by
    /// calling `options`, which runs it first; keeps what it returned for [`Vu::options`].
    /// An error the init context reported through `init.failed` is returned as it was thrown.
    async fn run_init(&mut self) -> Result<(), GuestError> {
        self.state().init.in_init = true;
        self.state().init.failure = None;
        let limit = self.state().init.limit;
        let (inst, store) = self.parts()?;
        let r = bounded("the init context", limit, inst.call_options(store)).await;
        self.state().init.in_init = false;
        let r = self.settle_bounded(r.map(|r| r.map(Ok)));
        if let Some(message) = self.state().init.failure.take() {
            self.discard_instance();
            return Err(GuestError::Failed(self.plugin.locations.rewrite(&message)));
        }
        self.init_options = Some(r?);
        Ok(())
    }

    /// The shared arrays this VU's init context made (the options pass); empty for any other VU.
    pub fn take_shared(&mut self) -> SharedData {
        match std::mem::replace(
            &mut self.state().init.shared,
            init::Shared::Made(Arc::default()),
        ) {
            init::Shared::Making(data) => data,
            init::Shared::Made(_) => SharedData::default(),
        }
    }

    /// [`Vu::settle`] for a call cut short by [`bounded`]: the instance is dropped.
    fn settle_bounded<T>(
        &mut self,
        r: Result<wasmtime::Result<Result<T, String>>, GuestError>,
    ) -> Result<T, GuestError> {
        match r {
            Ok(r) => self.settle(r),
            Err(e) => {
                self.discard_instance();
                Err(e)
            }
        }
    }

    fn settle<T>(&mut self, r: wasmtime::Result<Result<T, String>>) -> Result<T, GuestError> {
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(GuestError::Failed(self.plugin.locations.rewrite(&msg))),
            Err(trap) => {
                self.instance = None;
                let message = trap_message(&trap);
                match message.strip_prefix(execution::ABORTED) {
                    Some(reason) => Err(GuestError::Aborted(reason.to_string())),
                    None => Err(GuestError::Trap(message)),
                }
            }
        }
    }
}

/// `call` ended with [`GuestError::Timeout`] after `limit`. A guest yields to the runtime at
/// every epoch tick, so the timer fires even while it spins.
async fn bounded<T>(
    call: &'static str,
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, GuestError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| GuestError::Timeout { call, limit })
}

fn new_store(plugin: &Plugin, state: VuState) -> Store<VuState> {
    let mut store = Store::new(&plugin.engine, state);
    store.limiter(|s| &mut s.limits);
    // Every epoch tick (1 ms) a running guest yields to the scheduler, so a busy guest cannot
    // starve other VUs; ticks are counted against the sandbox's CPU budget.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let state = ctx.data_mut();
        if let Some(ticks) = &mut state.cpu_ticks {
            *ticks += 1;
        }
        if let (Some(budget), Some(ticks)) = (state.sandbox.cpu_budget, state.cpu_ticks) {
            if u128::from(ticks) > budget.as_millis() {
                return Err(wasmtime::format_err!(
                    "CPU budget exceeded: the iteration used more than {budget:?} of guest CPU"
                ));
            }
        }
        Ok(wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
    store
}

/// A one-line trap description: the root cause, e.g. `wasm trap: wasm \`unreachable\` ...`.
fn trap_message(e: &wasmtime::Error) -> String {
    let root = e.chain().last().map(|c| c.to_string()).unwrap_or_default();
    root.lines().next().unwrap_or_default().trim().to_string()
}
