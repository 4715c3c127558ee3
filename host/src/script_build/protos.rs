//! The `.proto` files a k6 script loads for `k6/net/grpc` (`client.load(['definitions'],
//! 'hello.proto')`), found when the script is built and embedded in the bundle: a scenario
//! cannot read files when it runs.

use std::path::{Path, PathBuf};

use super::BuildError;

/// Every `.proto` the script names in a string literal, and every file those import, as (name
/// as written, source), sorted by name. Names resolve against the script's folder and each
/// folder the script names in a string literal (k6's import paths); Google's well-known types
/// (`google/protobuf/…`) are built into the host and not embedded.
pub fn embedded(script: &Path, text: &str) -> Result<Vec<(String, String)>, BuildError> {
    let base = script.parent().unwrap_or(Path::new("."));
    let literals = string_literals(text);
    let mut roots = vec![base.to_path_buf()];
    roots.extend(
        literals
            .iter()
            .map(|l| base.join(l))
            .filter(|p| p.is_dir() && *p != base),
    );
    let mut todo: Vec<String> = literals
        .into_iter()
        .filter(|l| l.ends_with(".proto"))
        .collect();
    let mut found: Vec<(String, String)> = Vec::new();
    while let Some(name) = todo.pop() {
        if name.starts_with("google/protobuf/") || found.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let path = roots
            .iter()
            .map(|r| r.join(&name))
            .find(|p| p.is_file())
            .ok_or_else(|| BuildError::ProtoMissing {
                script: script.to_path_buf(),
                name: name.clone(),
                searched: roots
                    .iter()
                    .map(|r| r.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        let source = std::fs::read_to_string(&path).map_err(|source| BuildError::Read {
            path: PathBuf::from(&path),
            source,
        })?;
        todo.extend(imports(&source));
        found.push((name, source));
    }
    found.sort();
    Ok(found)
}

/// The contents of the script's single- and double-quoted string literals (escapes kept as
/// written; file names have none).
fn string_literals(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\'' && c != '"' {
            continue;
        }
        let mut lit = String::new();
        let mut escaped = false;
        for d in chars.by_ref() {
            match d {
                _ if escaped => {
                    escaped = false;
                    lit.push(d);
                }
                '\\' => escaped = true,
                '\n' => break,
                _ if d == c => {
                    out.push(lit);
                    break;
                }
                _ => lit.push(d),
            }
        }
    }
    out
}

/// The files a `.proto` source imports (`import "a.proto";`, also `public` and `weak`).
fn imports(source: &str) -> Vec<String> {
    source
        .lines()
        .filter_map(|l| l.trim().strip_prefix("import "))
        .filter_map(|rest| {
            let rest = rest.trim_start();
            let rest = rest
                .strip_prefix("public ")
                .or_else(|| rest.strip_prefix("weak "))
                .unwrap_or(rest)
                .trim_start();
            let rest = rest.strip_prefix('"')?;
            rest.split_once('"').map(|(name, _)| name.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_imports_are_found() {
        let js = r#"client.load(['definitions'], "hello.proto"); // it's fine
const x = 'a\'b';"#;
        assert_eq!(
            string_literals(js),
            vec!["definitions", "hello.proto", "a'b"],
            "an apostrophe in a comment opens no literal past the line's end"
        );
        let proto = "syntax = \"proto3\";\nimport \"google/protobuf/timestamp.proto\";\n  import public \"common/types.proto\";\nimport weak \"w.proto\";\n";
        assert_eq!(
            imports(proto),
            vec![
                "google/protobuf/timestamp.proto",
                "common/types.proto",
                "w.proto"
            ]
        );
    }

    #[test]
    fn protos_resolve_against_the_script_folder_and_named_folders() {
        let dir = std::env::temp_dir().join(format!("volley-protos-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("definitions/common")).unwrap();
        std::fs::write(
            dir.join("definitions/hello.proto"),
            "import \"common/types.proto\";\nimport \"google/protobuf/empty.proto\";\n",
        )
        .unwrap();
        std::fs::write(dir.join("definitions/common/types.proto"), "// types\n").unwrap();
        let script = dir.join("test.js");
        let js = "client.load(['definitions'], 'hello.proto');";
        let found = embedded(&script, js).unwrap();
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["common/types.proto", "hello.proto"]);
        let e = embedded(&script, "client.load([], 'missing.proto')").unwrap_err();
        assert!(e.to_string().contains("missing.proto"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
