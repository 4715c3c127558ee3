//! The optional `handle-summary` export (world `scenario-with-summary`, 0.1.4; k6's
//! `handleSummary`). It is looked up by name, not through the bindings, so components without it
//! (every world before 0.1.4, and plain `scenario`) load and run unchanged.

use std::time::Duration;

use wasmtime::component::{Component, ComponentExportIndex};

use super::{bounded, GuestError, Vu};

/// The export's name.
const EXPORT: &str = "handle-summary";

/// Longest a `handle-summary` call may run unless the test says otherwise (k6's default
/// `handleSummaryTimeout`). A component's own options cannot lengthen it: only the user's.
pub const HANDLE_SUMMARY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where `component`'s `handle-summary` export is, if it has one.
pub(super) fn export_index(component: &Component) -> Option<ComponentExportIndex> {
    component.get_export_index(None, EXPORT)
}

impl Vu {
    /// Calls the guest's `handle-summary` with k6's summary `data` (JSON), ended after `limit`.
    /// `Ok(None)`: the component has no such export, or its script no `handleSummary`.
    /// `Ok(Some(outputs))`: the outputs as a JSON object (see `output::handle_summary::parse`).
    /// An export of another type is an error naming it.
    pub async fn handle_summary(
        &mut self,
        data: &str,
        limit: Duration,
    ) -> Result<Option<String>, GuestError> {
        let Some(index) = self.plugin.handle_summary else {
            return Ok(None);
        };
        self.instance().await?;
        let Some(raw) = self.raw else {
            return Err(GuestError::Trap("VU has no instance".into()));
        };
        let store = self.store();
        let func = raw
            .get_typed_func::<(&str,), (Result<Option<String>, String>,)>(&mut *store, index)
            .map_err(|e| {
                GuestError::Failed(format!(
                    "the component's '{EXPORT}' export is not func(data: string) -> result<option<string>, string>: {e:#}"
                ))
            })?;
        let r = bounded(
            "handleSummary()",
            limit,
            func.call_async(&mut *store, (data,)),
        )
        .await;
        self.settle_bounded(r.map(|r| r.map(|(out,)| out)))
    }
}
