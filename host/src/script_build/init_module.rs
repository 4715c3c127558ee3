//! The user's script as k6's init context: bundled on its own (CommonJS, the `k6*` modules left
//! external) and wrapped in a function the entry module calls once per VU, so the script's top
//! level runs per VU with `__ENV` and `__VU`, while the shim it imports is evaluated once, in the
//! build snapshot every VU shares copy-on-write.
//!
//! Files written to the build's scratch folder (`js/`): `user.js` (`export default function
//! (require, module, exports) { … }`) and `modules.js` (the shim modules the script imports, by
//! the names it imports them with).

use std::path::Path;

use super::BuildError;

/// Where in the scratch folder esbuild writes the script's bundle and its metafile.
const CJS: &str = "user-cjs.js";
const META: &str = "user-meta.json";

/// The esbuild arguments that bundle `script` (absolute) into `js/user.js`'s body, run from
/// the scratch folder `scratch`.
pub fn esbuild_args(script: &Path, scratch: &Path) -> Vec<std::ffi::OsString> {
    vec![
        script.into(),
        "--bundle".into(),
        "--format=cjs".into(),
        "--platform=neutral".into(),
        "--main-fields=module,main".into(),
        // The shim is evaluated in the snapshot; the script reaches it through `require`.
        "--external:k6".into(),
        "--external:k6/*".into(),
        "--log-level=warning".into(),
        // Read by the second pass, which composes it into the bundle's map (see source_map.rs).
        "--sourcemap".into(),
        format!("--metafile={}", scratch.join(META).display()).into(),
        format!("--outfile={}", scratch.join(CJS).display()).into(),
    ]
}

/// The shim module a `k6…` import names, as a path under `js/`: `k6` is `k6/index.js`,
/// `k6/x` is `k6/x.js`; `None` unless the shim has it (`shim` lists its files).
fn shim_file<'a>(name: &str, shim: &[&'a str]) -> Option<&'a str> {
    let file = match name {
        "k6" => "k6/index.js".to_string(),
        _ => format!("{name}.js"),
    };
    shim.iter().copied().find(|f| *f == file)
}

/// After esbuild ran with [`esbuild_args`]: writes `js/user.js` and `js/modules.js` into
/// `scratch`, and returns the local files the bundle is made of (to scan for `open()`).
/// A `k6…` module the shim lacks is a build error naming it.
pub fn write(
    scratch: &Path,
    script: &Path,
    shim: &[&str],
) -> Result<Vec<std::path::PathBuf>, BuildError> {
    let read = |name: &str| {
        let path = scratch.join(name);
        std::fs::read_to_string(&path).map_err(|source| BuildError::Read { path, source })
    };
    let meta: serde_json::Value = serde_json::from_str(&read(META)?).unwrap_or_default();
    let mut imports: Vec<String> = meta["outputs"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .flat_map(|out| out["imports"].as_array().cloned().unwrap_or_default())
        .filter(|i| i["external"].as_bool() == Some(true))
        .filter_map(|i| i["path"].as_str().map(str::to_string))
        .collect();
    imports.sort();
    imports.dedup();
    let mut lines =
        vec!["// The shim modules the script imports, by name (k6's `require`).".to_string()];
    let mut entries = Vec::new();
    for (n, name) in imports.iter().enumerate() {
        let file = shim_file(name, shim).ok_or_else(|| BuildError::UnknownModule {
            script: script.to_path_buf(),
            module: name.clone(),
        })?;
        lines.push(format!("import * as m{n} from './{file}';"));
        entries.push(format!(
            "  {}: m{n},",
            serde_json::Value::from(name.as_str())
        ));
    }
    lines.push(format!("export default {{\n{}\n}};\n", entries.join("\n")));
    write_file(scratch, "js/modules.js", &lines.join("\n"))?;
    let body = read(CJS)?;
    // The body keeps its lines (the function opens on its first), and its map is linked, so the
    // second pass maps the bundle back to the user's files.
    let body = body
        .trim_end()
        .strip_suffix(&format!("//# sourceMappingURL={CJS}.map"))
        .unwrap_or(&body);
    write_file(
        scratch,
        "js/user.js",
        &format!(
            "export default function (require, module, exports) {{{body}\n}}\n\
             //# sourceMappingURL=../{CJS}.map\n"
        ),
    )?;
    let inputs = meta["inputs"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
        .map(|k| {
            let p = Path::new(k);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                scratch.join(p)
            }
        })
        .filter(|p| p.is_file())
        .collect();
    Ok(inputs)
}

fn write_file(scratch: &Path, rel: &str, text: &str) -> Result<(), BuildError> {
    let path = scratch.join(rel);
    std::fs::write(&path, text).map_err(|source| BuildError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_imports_name_shim_files() {
        let shim = ["k6/index.js", "k6/http.js", "k6/net/grpc.js"];
        assert_eq!(shim_file("k6", &shim), Some("k6/index.js"));
        assert_eq!(shim_file("k6/http", &shim), Some("k6/http.js"));
        assert_eq!(shim_file("k6/net/grpc", &shim), Some("k6/net/grpc.js"));
        assert_eq!(shim_file("k6/browser", &shim), None);
    }
}
