//! The files a k6 script reads with `open('path')`, found when the script is built and embedded
//! in the component (a scenario reads no files when it runs). They go into a custom section the
//! host reads once per run (`vu::init`), not into the engine's snapshot: every VU's memory would
//! otherwise hold (and count against its limit) every file, read or not.

use std::path::{Path, PathBuf};

use super::BuildError;

/// The custom section's name (the host reads the same: `vu::init::FILES_SECTION`).
const SECTION: &str = "volley:files";

/// Every file the script and its own modules (`modules`, absolute; `node_modules` is not
/// scanned) name in `open('…')` with a string literal, as (name as written without a leading
/// `./`, bytes), sorted. A name resolves against the folder of the module naming it, then the
/// script's; a name found in neither is a build error naming both.
pub fn embedded(script: &Path, modules: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>, BuildError> {
    let script_dir = std::path::absolute(script)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    for module in modules {
        if module.components().any(|c| c.as_os_str() == "node_modules") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(module) else {
            continue;
        };
        let dir = module.parent().unwrap_or(Path::new("."));
        for name in opened(&text) {
            let key = name.trim_start_matches("./").to_string();
            if key.is_empty() || found.iter().any(|(n, _)| *n == key) {
                continue;
            }
            let dirs = [dir, script_dir.as_path()];
            let path = dirs
                .iter()
                .map(|d| d.join(&name))
                .find(|p| p.is_file())
                .ok_or_else(|| BuildError::FileMissing {
                    script: script.to_path_buf(),
                    name: name.clone(),
                    module: module.clone(),
                    searched: dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" and "),
                })?;
            let bytes = std::fs::read(&path).map_err(|source| BuildError::Read {
                path: path.clone(),
                source,
            })?;
            found.push((key, bytes));
        }
    }
    found.sort();
    Ok(found)
}

/// The literal first arguments of the calls to `open` in `text` (not `x.open(…)`).
fn opened(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c == b'.';
    let mut from = 0;
    while let Some(at) = text[from..].find("open") {
        let start = from + at;
        from = start + 4;
        if start > 0 && ident(b[start - 1]) {
            continue;
        }
        let rest = text[from..].trim_start();
        let Some(rest) = rest.strip_prefix('(') else {
            continue;
        };
        let rest = rest.trim_start();
        let Some(quote) = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '\'' | '"' | '`'))
        else {
            continue;
        };
        let body = &rest[1..];
        if let Some(end) = body.find(quote) {
            let lit = &body[..end];
            if !lit.contains('\n') && !lit.contains('\\') && !lit.contains("${") {
                out.push(lit.to_string());
            }
        }
    }
    out
}

/// `files` as the component's custom section, to append to it: a u32 count and each file as a
/// u32 name length, the name, a u64 length and the bytes (little-endian).
pub fn section(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend((files.len() as u32).to_le_bytes());
    for (name, data) in files {
        payload.extend((name.len() as u32).to_le_bytes());
        payload.extend(name.as_bytes());
        payload.extend((data.len() as u64).to_le_bytes());
        payload.extend(data);
    }
    custom_section(SECTION, &payload)
}

/// A custom section (id 0, size, name, `payload`) to append to a component.
pub fn custom_section(name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::with_capacity(payload.len() + name.len() + 5);
    leb(name.len(), &mut body);
    body.extend(name.as_bytes());
    body.extend(payload);
    let mut out = vec![0];
    leb(body.len(), &mut out);
    out.extend(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_literal_calls_of_the_global_open_are_found() {
        let js = "const a = open('./a.csv');\nconst b = open(\"b.bin\", 'b');\nwindow.open('x');\n\
                  reopen('y'); open(`t.txt`); open(`${x}.txt`); open(name); open ( 'c' )";
        assert_eq!(opened(js), ["./a.csv", "b.bin", "t.txt", "c"]);
    }

    #[test]
    fn missing_files_name_the_script_the_path_and_the_folders() {
        let dir = std::env::temp_dir().join(format!("volley-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("lib")).unwrap();
        std::fs::write(dir.join("data.csv"), "a,b\n").unwrap();
        let script = dir.join("s.js");
        std::fs::write(&script, "open('./data.csv'); open('data.csv');").unwrap();
        let lib = dir.join("lib/m.js");
        std::fs::write(&lib, "open('../data.csv')").unwrap();
        let found = embedded(&script, &[script.clone(), lib.clone()]).unwrap();
        assert_eq!(
            found,
            [
                ("../data.csv".to_string(), b"a,b\n".to_vec()),
                ("data.csv".to_string(), b"a,b\n".to_vec())
            ]
        );
        std::fs::write(&lib, "open('nope.txt')").unwrap();
        let e = embedded(&script, std::slice::from_ref(&lib))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s.js") && e.contains("nope.txt") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
