//! Where each line of the bundle came from in the user's own files, so an error thrown by the
//! script names its file, line and column (as k6 does) rather than a line of the bundle. esbuild
//! writes a source map for the bundle; the user's part of it goes into a custom section the host
//! reads when it reports a guest error (`vu::locations`).

use std::path::Path;

/// The custom section's name (the host reads the same: `vu::locations::SECTION`).
const SECTION: &str = "volley:locations";

/// The decoded segments of `mappings` (a source map's field): (generated line, generated
/// column, source index, original line, original column), all 0-based. `None` when malformed.
fn segments(mappings: &str) -> Option<Vec<[u32; 5]>> {
    fn vlq(chars: &mut std::iter::Peekable<std::str::Chars>) -> Option<i64> {
        let (mut value, mut shift) = (0i64, 0);
        loop {
            let c = chars.next()?;
            let digit = match c {
                'A'..='Z' => c as i64 - 'A' as i64,
                'a'..='z' => c as i64 - 'a' as i64 + 26,
                '0'..='9' => c as i64 - '0' as i64 + 52,
                '+' => 62,
                '/' => 63,
                _ => return None,
            };
            value |= (digit & 31) << shift;
            shift += 5;
            if digit & 32 == 0 {
                break;
            }
            if shift > 60 {
                return None;
            }
        }
        Some(if value & 1 == 1 {
            -(value >> 1)
        } else {
            value >> 1
        })
    }
    let mut out = Vec::new();
    let (mut src, mut line, mut col) = (0i64, 0i64, 0i64);
    for (gen_line, text) in mappings.split(';').enumerate() {
        let mut gen_col = 0i64;
        for seg in text.split(',').filter(|s| !s.is_empty()) {
            let mut chars = seg.chars().peekable();
            let mut fields = Vec::with_capacity(5);
            while chars.peek().is_some() {
                fields.push(vlq(&mut chars)?);
            }
            gen_col += *fields.first()?;
            if fields.len() >= 4 {
                src += fields[1];
                line += fields[2];
                col += fields[3];
                let u = |v: i64| u32::try_from(v).ok();
                out.push([u(gen_line as i64)?, u(gen_col)?, u(src)?, u(line)?, u(col)?]);
            }
        }
    }
    Some(out)
}

/// The custom section for the source map `map` (JSON, as esbuild writes it next to the bundle in
/// `dir`): the segments that come from the user's files (not the shim under `dir/js/`), and those
/// files' absolute paths. Empty when the map cannot be read (errors then name bundle lines).
pub fn section(map: &str, dir: &Path) -> Vec<u8> {
    let Ok(map) = serde_json::from_str::<serde_json::Value>(map) else {
        return Vec::new();
    };
    let sources: Vec<Option<String>> = map["sources"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|p| {
                    let p = p.as_str()?;
                    if p.starts_with("js/") {
                        return None;
                    }
                    if !p.starts_with("../") {
                        return Some(in_build(p));
                    }
                    let abs = dir.join(p);
                    Some(
                        std::fs::canonicalize(&abs)
                            .unwrap_or(abs)
                            .display()
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let Some(all) = map["mappings"].as_str().and_then(segments) else {
        return Vec::new();
    };
    let kept: Vec<[u32; 5]> = all
        .into_iter()
        .filter(|s| sources.get(s[2] as usize).is_some_and(Option::is_some))
        .collect();
    if kept.is_empty() {
        return Vec::new();
    }
    let payload = serde_json::json!({ "sources": sources, "segments": kept }).to_string();
    super::files::custom_section(SECTION, payload.as_bytes())
}

/// A name for `p`, a file the build wrote into its scratch folder: a mirrored remote module by
/// its URL (`remote/SCHEME/HOST[_PORT]/PATH`), else `p` itself. Never the scratch folder's path,
/// which differs at every build and would change the build-cache key.
fn in_build(p: &str) -> String {
    let mut parts = p.splitn(4, '/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("remote"), Some(scheme), Some(host), Some(path)) => {
            let host = match host.rsplit_once('_') {
                Some((h, port)) if port.parse::<u16>().is_ok() => format!("{h}:{port}"),
                _ => host.to_string(),
            };
            format!("{scheme}://{host}/{path}")
        }
        _ => p.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_the_build_wrote_are_named_without_its_scratch_folder() {
        let map = r#"{"sources":["script.js","remote/http/127.0.0.1_8080/lib/a.js","js/k6/http.js"],"mappings":"AAAA,CCAA,CEAA"}"#;
        let a = section(map, Path::new("/tmp/volley-build-1"));
        let b = section(map, Path::new("/tmp/volley-build-2"));
        assert!(!a.is_empty());
        assert_eq!(
            a, b,
            "the same build gives the same section (and cache key)"
        );
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("http://127.0.0.1:8080/lib/a.js"), "{text}");
        assert!(!text.contains("volley-build"), "{text}");
    }

    #[test]
    fn vlq_segments_decode_relative_to_the_previous_one() {
        // "AAAA": 0,0,0,0; "SAAS": col +9, same source/line, col +9; ";" next line;
        // "AACA": line +1. "gBAAA": col +16 (two digits).
        let s = segments("AAAA,SAAS;AACA,gBAAA").unwrap();
        assert_eq!(
            s,
            [
                [0, 0, 0, 0, 0],
                [0, 9, 0, 0, 9],
                [1, 0, 0, 1, 9],
                [1, 16, 0, 1, 9]
            ]
        );
        assert!(segments("A!").is_none());
    }
}
