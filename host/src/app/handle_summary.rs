//! The end of a run whose script exports `handleSummary` (k6): the script gets k6's summary data
//! once after teardown, and its outputs replace the default summary. As in k6, an exception
//! is logged and the default summary printed instead.

use std::sync::Arc;

use super::Prepared;
use crate::logging::{self, Level};
use crate::metrics::{Aggregate, Registry, Tags};
use crate::output::handle_summary::{self as hs, Terminal};
use crate::output::Results;
use crate::transport::HttpConfig;
use crate::vu::{Plugin, Vu, VuSetup};

/// Runs the script's `handleSummary`, prints and writes its outputs; returns whether it took
/// the default summary's place (false: no `handleSummary`, or it failed).
pub(super) async fn run(
    p: &Prepared,
    results: &Results,
    aggregate: &Aggregate,
    no_color: bool,
) -> bool {
    let outputs = match call(p, results, aggregate, no_color).await {
        Ok(Some(outputs)) => outputs,
        Ok(None) => return false,
        Err(message) => {
            logging::host(Level::Error, &message);
            return false;
        }
    };
    let stdout = &mut std::io::stdout().lock();
    let stderr = &mut std::io::stderr().lock();
    let delivered = hs::deliver(&outputs, p.own_script, stdout, stderr);
    if !delivered.refused.is_empty() {
        logging::host(
            Level::Warn,
            &format!(
                "handleSummary's files were not written: {} ({} is a component, not a script you run from your disk or stdin; only those write files)",
                delivered.refused.join(", "),
                p.origin
            ),
        );
    }
    if !delivered.failed.is_empty() {
        let each: Vec<String> = delivered
            .failed
            .iter()
            .map(|e| format!("\n\t- {e}"))
            .collect();
        logging::host(
            Level::Error,
            &format!("failed to handle the end-of-test summary: could not save some summary information:{}", each.concat()),
        );
    }
    true
}

/// The outputs of the script's `handleSummary`, `None` without one; an error says what failed.
async fn call(
    p: &Prepared,
    results: &Results,
    aggregate: &Aggregate,
    no_color: bool,
) -> Result<Option<Vec<hs::Output>>, String> {
    let plugin = Plugin::from_bytes(&p.wasm, &p.origin, None, &p.test.sandbox)
        .map_err(|e| format!("handleSummary: {e}"))?
        .with_shared(p.shared.clone());
    if !plugin.has_handle_summary() {
        return Ok(None);
    }
    let http = HttpConfig::new(&p.test.http).map_err(|e| format!("handleSummary: {e}"))?;
    // Samples it records (a request, a check) count nowhere: the results are final.
    let scratch = Aggregate::new(Tags::new(), Registry::new());
    let mut setup = VuSetup::standalone(
        0,
        "default",
        &scratch,
        Arc::new(p.test.sandbox.clone()),
        Arc::new(http),
    );
    setup.env = Arc::new(p.test.env.clone());
    let data = hs::data(results, aggregate, Terminal::of_this_process(no_color)).to_string();
    let mut vu = Vu::new(Arc::new(plugin), setup)
        .await
        .map_err(|e| format!("handleSummary: {e}"))?;
    match vu
        .handle_summary(&data, p.test.handle_summary_timeout)
        .await
    {
        Ok(Some(text)) => hs::parse(&text).map(Some).map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(format!(
            "handleSummary() failed, so the default summary is printed: {e}"
        )),
    }
}
