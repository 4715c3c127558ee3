//! `volley merge`: several summary exports of one test's segments into one.

use super::*;

/// `volley merge`: reads the summaries, prints and exports the merged one; exit 99 when a
/// threshold is crossed on the merged values.
pub fn merge(
    files: &[PathBuf],
    export_to: Option<&Path>,
    trend_stats: Option<Vec<String>>,
    print: bool,
) -> Result<i32, AppError> {
    use crate::output::merge::{self, MergeError};
    let mut parts = Vec::new();
    let metrics = Registry::new();
    for file in files {
        let name = file.display().to_string();
        let invalid = |message: String| MergeError::Invalid {
            file: name.clone(),
            message,
        };
        let text = std::fs::read_to_string(file).map_err(|e| invalid(e.to_string()))?;
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
        parts.push(merge::read(&name, &doc, &metrics)?);
    }
    let results = merge::merge(parts, trend_stats)?;
    if print {
        logging::to_stdout(&summary::render(&results));
    }
    if let Some(path) = export_to {
        let doc = serde_json::to_string_pretty(&export::to_json(&results)).unwrap_or_default();
        std::fs::write(path, doc).map_err(|source| AppError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    let failed: Vec<String> = results
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("{} {}", t.selector, t.source))
        .collect();
    if failed.is_empty() {
        return Ok(0);
    }
    logging::host(
        Level::Error,
        &format!(
            "thresholds crossed on the merged summary: {}",
            failed.join(", ")
        ),
    );
    Ok(exit::THRESHOLDS_FAILED)
}
