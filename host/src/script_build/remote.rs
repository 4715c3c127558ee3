//! Remote modules: k6's `import … from 'https://…'` (and `http://`), fetched when the script is
//! built (`http://` only from this machine: k6 takes `https://` alone). Each module is cached by URL and content hash (`remote` in Volley's cache dir) and
//! pinned in a lock file next to the script (`SCRIPT.lock`: URL = sha256), so a rebuild reuses
//! the cached copy without the network, and a remote whose content changed fails the build
//! naming the URL. Relative imports inside a remote module resolve against its URL. jslib.k6.io's
//! `k6-summary` (every version) is Volley's own (`sdk/js/jslib/k6-summary.js`): no network.
//!
//! How: esbuild leaves URL imports external, so the script is first bundled alone; the URL
//! imports left in that bundle, and in every module they reach, are fetched into a mirror
//! folder and rewritten to its files, which the main bundle then takes in.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use reqwest::Url;
use sha2::{Digest, Sha256};

/// Largest remote module a build takes.
pub const MAX_MODULE_MIB: u64 = 4;
/// Most remote modules one build fetches (the built-in ones included).
pub const MAX_MODULES: usize = 64;
/// Longest all of a build's fetches may take together; one fetch gets at most
/// [`FETCH_TIMEOUT`] of it.
pub const FETCH_DEADLINE: Duration = Duration::from_secs(60);
/// Longest one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Volley's own k6-summary (`textSummary`), served for every `jslib.k6.io/k6-summary` version.
const K6_SUMMARY: &str = include_str!("../../../sdk/js/jslib/k6-summary.js");

/// Why a remote module could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The module could not be fetched (and no pinned copy is cached).
    #[error("cannot fetch the module {url}: {reason}")]
    Fetch {
        /// The module.
        url: String,
        /// Why.
        reason: String,
    },
    /// The server sends other content than the lock file pins.
    #[error("the module {url} changed: {lock} pins sha256 {pinned}, the server now sends {got}; if the new content is wanted, delete its line from {lock} and build again")]
    Changed {
        /// The module.
        url: String,
        /// The lock file.
        lock: String,
        /// The pinned digest.
        pinned: String,
        /// The digest of what was fetched.
        got: String,
    },
    /// More modules than [`MAX_MODULES`].
    #[error(
        "the script imports more than {MAX_MODULES} remote modules (the build stopped at {url})"
    )]
    TooMany {
        /// The first module over the limit.
        url: String,
    },
    /// The fetches together took longer than [`FETCH_DEADLINE`].
    #[error("fetching the script's remote modules took longer than {FETCH_DEADLINE:?} (the build stopped at {url})")]
    Deadline {
        /// The module being fetched.
        url: String,
    },
    /// A URL Volley cannot mirror.
    #[error("the module {url} cannot be imported: {reason}")]
    BadUrl {
        /// The URL as written.
        url: String,
        /// Why.
        reason: &'static str,
    },
    /// The lock file is unreadable or malformed.
    #[error("lock file {path}: {reason}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The cache directory cannot be trusted (see the warning above).
    #[error("cache directory {} cannot be trusted (see the warning above): set VOLLEY_CACHE_DIR to a directory only you can write", .0.display())]
    UntrustedCache(PathBuf),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The lock file that pins the remote modules of `script`: `SCRIPT.lock` next to it.
pub fn lock_path(script: &Path) -> PathBuf {
    let mut name = script.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    script.with_file_name(name)
}

/// A module specifier in a source text: where its text (without quotes) is.
struct Specifier {
    start: usize,
    end: usize,
}

/// The specifiers of the static imports and re-exports in `text` (`from '…'`, `import '…'`,
/// `import('…')`), found by reading (comments and strings that merely contain `from '` are
/// rare enough in modules to be rewritten harmlessly: only `http(s)://` ones are touched).
fn specifiers(text: &str) -> Vec<Specifier> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for keyword in ["from", "import"] {
        let mut at = 0;
        while let Some(found) = text[at..].find(keyword) {
            let kw = at + found;
            at = kw + keyword.len();
            let before = kw.checked_sub(1).map(|i| bytes[i]);
            if before
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.')
            {
                continue;
            }
            let mut i = at;
            while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'(') {
                i += 1;
            }
            let Some(&quote) = bytes.get(i).filter(|q| matches!(q, b'\'' | b'"' | b'`')) else {
                continue;
            };
            let Some(len) = text[i + 1..].find(quote as char) else {
                continue;
            };
            out.push(Specifier {
                start: i + 1,
                end: i + 1 + len,
            });
        }
    }
    out.sort_by_key(|s| s.start);
    out.dedup_by_key(|s| s.start);
    out
}

fn is_url(spec: &str) -> bool {
    spec.starts_with("https://") || spec.starts_with("http://")
}

/// `text` with each specifier `map` gives a replacement for replaced.
fn rewrite(text: &str, mut map: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for s in specifiers(text) {
        if let Some(new) = map(&text[s.start..s.end]) {
            out.push_str(&text[last..s.start]);
            out.push_str(&new);
            last = s.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// The URL imports of `text`: absolute ones, and, in a module fetched from `base`, relative
/// ones (`./x.js`, `../x.js`, `/x.js`) resolved against it.
fn imports(text: &str, base: Option<&Url>) -> Vec<String> {
    let mut out = Vec::new();
    rewrite(text, |spec| {
        out.push(resolve(spec, base)?);
        None
    });
    out
}

fn resolve(spec: &str, base: Option<&Url>) -> Option<String> {
    if is_url(spec) {
        return Some(spec.to_string());
    }
    let base = base?;
    let relative = spec.starts_with("./") || spec.starts_with("../") || spec.starts_with('/');
    relative
        .then(|| base.join(spec).ok())
        .flatten()
        .map(|u| u.to_string())
}

/// Where `url` is mirrored under `dir`: `dir/SCHEME/HOST[_PORT]/PATH` (`index.js` for a path
/// ending in `/`).
fn mirror_path(dir: &Path, url: &str) -> Result<PathBuf, RemoteError> {
    let bad = |reason| RemoteError::BadUrl {
        url: url.to_string(),
        reason,
    };
    let u = Url::parse(url).map_err(|_| bad("not a valid URL"))?;
    match u.scheme() {
        "https" => {}
        // As k6, no plain HTTP across a network (anyone on the path could change the code);
        // unlike k6, from this machine (a module server started for development or a test).
        "http" if is_loopback(&u) => {}
        "http" => return Err(bad("modules are fetched over https:// (http:// only from 127.0.0.1, ::1 or localhost), as in k6")),
        _ => return Err(bad("only https:// modules are fetched")),
    }
    if u.query().is_some() || !u.username().is_empty() || u.password().is_some() {
        return Err(bad(
            "a module URL with a query or credentials is not supported",
        ));
    }
    let host = u
        .host_str()
        .ok_or_else(|| bad("no host"))?
        .replace(':', "_");
    let mut path = dir.join(u.scheme()).join(match u.port() {
        Some(p) => format!("{host}_{p}"),
        None => host,
    });
    // The URL is normalized (no `.` or `..` segments), so the path stays under `dir`.
    for seg in u.path_segments().into_iter().flatten() {
        if seg.is_empty() || seg == "." || seg == ".." {
            continue;
        }
        path.push(seg);
    }
    if u.path().ends_with('/') {
        path.push("index.js");
    }
    Ok(path)
}

fn is_loopback(u: &Url) -> bool {
    let host = u.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `to` as a module specifier relative to the folder `from` (`./a/b.js`, `../../c.js`).
fn relative(from: &Path, to: &Path) -> String {
    let (from, to): (Vec<_>, Vec<_>) = (from.components().collect(), to.components().collect());
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = from.len() - common;
    let mut out = if ups == 0 {
        "./".to_string()
    } else {
        "../".repeat(ups)
    };
    let rest: Vec<String> = to[common..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    out.push_str(&rest.join("/"));
    out
}

/// The built-in module at `url`, if Volley ships one.
fn builtin(url: &str) -> Option<&'static str> {
    let rest = url.strip_prefix("https://jslib.k6.io/k6-summary/")?;
    let (version, file) = rest.split_once('/')?;
    (file == "index.js" && version.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .then_some(K6_SUMMARY)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The lock file: URL → sha256 of the content, in TOML (`[modules]`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct LockFile {
    #[serde(default)]
    modules: BTreeMap<String, String>,
}

fn read_lock(path: &Path) -> Result<LockFile, RemoteError> {
    let err = |reason: String| RemoteError::Lock {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text).map_err(|e| err(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
        Err(e) => Err(err(e.to_string())),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), RemoteError> {
    let io = |source| RemoteError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

/// Fetches and caches remote modules for one build.
struct Fetcher {
    lock_path: PathBuf,
    lock: LockFile,
    cache: PathBuf,
    started: Instant,
}

impl Fetcher {
    /// The content of `url`: built in, the cached copy the lock pins, or fetched (then cached and
    /// pinned).
    fn content(&mut self, url: &str) -> Result<String, RemoteError> {
        if let Some(text) = builtin(url) {
            return Ok(text.to_string());
        }
        let cached = |digest: &str| {
            self.cache
                .join(format!("{}-{digest}.js", sha256(url.as_bytes())))
        };
        let pinned = self.lock.modules.get(url).cloned();
        if let Some(digest) = &pinned {
            if let Ok(bytes) = std::fs::read(cached(digest)) {
                if sha256(&bytes) == *digest {
                    return text_of(url, bytes);
                }
            }
        }
        let bytes = self.fetch(url)?;
        let digest = sha256(&bytes);
        if let Some(pinned) = pinned.filter(|p| *p != digest) {
            return Err(RemoteError::Changed {
                url: url.to_string(),
                lock: self.lock_path.display().to_string(),
                pinned,
                got: digest,
            });
        }
        let path = cached(&digest);
        let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
        write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path).map_err(|source| RemoteError::Write { path, source })?;
        self.lock.modules.insert(url.to_string(), digest);
        text_of(url, bytes)
    }

    /// GETs `url` within [`MAX_MODULE_MIB`], [`FETCH_TIMEOUT`] and what is left of
    /// [`FETCH_DEADLINE`], on a thread of its own (the build runs inside the async runtime).
    fn fetch(&self, url: &str) -> Result<Vec<u8>, RemoteError> {
        let left = FETCH_DEADLINE.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            return Err(RemoteError::Deadline { url: url.into() });
        }
        let limits = crate::registry::transfer::Limits {
            max_mib: MAX_MODULE_MIB,
            connect_timeout: Duration::from_secs(10).min(left),
            timeout: FETCH_TIMEOUT.min(left),
        };
        let fetched = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                rt.block_on(crate::registry::transfer::download(url, &limits))
                    .map_err(|e| match e {
                        crate::registry::transfer::TransferError::TooLarge { .. } => {
                            format!("larger than {MAX_MODULE_MIB} MiB")
                        }
                        e => e.to_string(),
                    })
            })
            .join()
            .unwrap_or_else(|_| Err("the fetch failed".into()))
        });
        fetched.map_err(|reason| {
            if self.started.elapsed() >= FETCH_DEADLINE {
                RemoteError::Deadline { url: url.into() }
            } else {
                RemoteError::Fetch {
                    url: url.into(),
                    reason,
                }
            }
        })
    }
}

fn text_of(url: &str, bytes: Vec<u8>) -> Result<String, RemoteError> {
    String::from_utf8(bytes).map_err(|_| RemoteError::Fetch {
        url: url.into(),
        reason: "not UTF-8 text".into(),
    })
}

/// Mirrors the modules the URL imports of `text` (a bundle of the script `script`) reach into
/// `dir`, and returns `text` with those imports pointing at the mirrored files, or `None` when
/// it has no URL import. Modules are pinned in [`lock_path`]`(script)`.
pub fn mirror(text: &str, script: &Path, dir: &Path) -> Result<Option<String>, RemoteError> {
    let roots = imports(text, None);
    if roots.is_empty() {
        return Ok(None);
    }
    let cache_location = crate::cache::location("remote");
    let cache = crate::cache::dir("remote").ok_or(RemoteError::UntrustedCache(cache_location))?;
    let lock_path = lock_path(script);
    let mut fetcher = Fetcher {
        lock: read_lock(&lock_path)?,
        lock_path,
        cache,
        started: Instant::now(),
    };
    let pinned_before: Vec<(String, String)> = fetcher
        .lock
        .modules
        .iter()
        .map(|(u, d)| (u.clone(), d.clone()))
        .collect();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut queue: VecDeque<String> = roots.into_iter().collect();
    while let Some(url) = queue.pop_front() {
        if seen.contains_key(&url) {
            continue;
        }
        if seen.len() >= MAX_MODULES {
            return Err(RemoteError::TooMany { url });
        }
        let path = mirror_path(dir, &url)?;
        seen.insert(url.clone(), path.clone());
        let content = fetcher.content(&url)?;
        let base = Url::parse(&url).ok();
        let mut local = Vec::new();
        for dep in imports(&content, base.as_ref()) {
            local.push(dep.clone());
            queue.push_back(dep);
        }
        // Every URL import (relative ones resolved) points at its mirrored file, by a relative
        // path: the bundle, whose hash keys the build cache, must not name the scratch folder.
        let from = path.parent().unwrap_or(dir).to_path_buf();
        let rewritten = rewrite(&content, |spec| {
            let target = resolve(spec, base.as_ref())?;
            mirror_path(dir, &target).ok().map(|p| relative(&from, &p))
        });
        write(&path, rewritten.as_bytes())?;
    }
    // Pin what this build used (entries for modules no longer imported are dropped).
    fetcher.lock.modules.retain(|url, _| seen.contains_key(url));
    let pinned_now: Vec<(String, String)> = fetcher
        .lock
        .modules
        .iter()
        .map(|(u, d)| (u.clone(), d.clone()))
        .collect();
    if pinned_now != pinned_before {
        let text = format!(
            "# Remote modules of {}, pinned by volley: URL = sha256 of the content.\n# A module whose content changes fails the build; delete its line to accept the new content.\n{}",
            script.file_name().unwrap_or_default().to_string_lossy(),
            toml::to_string(&fetcher.lock).unwrap_or_default()
        );
        write(&fetcher.lock_path, text.as_bytes())?;
    }
    // The rewritten bundle is written next to `dir`.
    let from = dir.parent().unwrap_or(dir).to_path_buf();
    Ok(Some(rewrite(text, |spec| {
        is_url(spec)
            .then(|| seen.get(spec).map(|p| relative(&from, p)))
            .flatten()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_imports_are_found_and_relative_ones_resolved_against_the_module() {
        let text = r#"import { a } from "https://x.test/lib/a.js";
import "./side.js";
export * from '../up.js';
import http from "k6/http";
const m = import('/root.js');
const s = "this is from nowhere";"#;
        assert_eq!(imports(text, None), vec!["https://x.test/lib/a.js"]);
        let base = Url::parse("http://127.0.0.1:8080/lib/mod.js").unwrap();
        assert_eq!(
            imports(text, Some(&base)),
            vec![
                "https://x.test/lib/a.js",
                "http://127.0.0.1:8080/lib/side.js",
                "http://127.0.0.1:8080/up.js",
                "http://127.0.0.1:8080/root.js",
            ]
        );
    }

    #[test]
    fn mirrored_paths_stay_in_the_mirror() {
        let dir = Path::new("/m");
        assert_eq!(
            mirror_path(dir, "http://127.0.0.1:8080/a/../../b/./c.js").unwrap(),
            Path::new("/m/http/127.0.0.1_8080/b/c.js")
        );
        assert_eq!(
            mirror_path(dir, "https://jslib.k6.io/x/").unwrap(),
            Path::new("/m/https/jslib.k6.io/x/index.js")
        );
        assert!(mirror_path(dir, "https://x.test/a.js?v=1").is_err());
        assert!(mirror_path(dir, "ftp://x.test/a.js").is_err());
        let plain = mirror_path(dir, "http://example.com/a.js").unwrap_err();
        assert!(plain.to_string().contains("https://"), "{plain}");
        assert!(mirror_path(dir, "http://localhost:9/a.js").is_ok());
        assert!(mirror_path(dir, "http://[::1]:9/a.js").is_ok());
    }

    #[test]
    fn mirrored_imports_are_relative_so_the_bundle_names_no_scratch_folder() {
        let m = Path::new("/s/remote");
        assert_eq!(
            relative(Path::new("/s"), &m.join("https/x.test/a.js")),
            "./remote/https/x.test/a.js"
        );
        assert_eq!(
            relative(&m.join("https/x.test/lib"), &m.join("http/h_1/b.js")),
            "../../../http/h_1/b.js"
        );
    }

    #[test]
    fn every_k6_summary_version_is_built_in() {
        for v in ["0.0.1", "0.0.2", "0.0.4", "0.1.0"] {
            let url = format!("https://jslib.k6.io/k6-summary/{v}/index.js");
            assert!(builtin(&url).is_some(), "{url}");
        }
        assert!(builtin("https://jslib.k6.io/k6-utils/1.4.0/index.js").is_none());
        assert_eq!(
            lock_path(Path::new("dir/test.js")),
            Path::new("dir/test.js.lock")
        );
    }
}
