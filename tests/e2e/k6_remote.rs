//! Remote modules (`import … from 'https://…'`, and `http://` from this machine): fetched when
//! the script is built, from a module server started on 127.0.0.1, pinned in `SCRIPT.lock`,
//! reused offline, refused when changed, bounded against a hostile server.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::support::{read_json, scratch, volley_js, Run, Server};

/// `volley run SCRIPT -q --summary-export DIR/summary.json`, with the cache dir `cache` instead
/// of the tests' own.
fn run(script: &Path, cache: Option<&Path>) -> Run {
    let export = script.with_file_name("summary.json");
    let _ = std::fs::remove_file(&export);
    let mut cmd = volley_js();
    if let Some(cache) = cache {
        cmd.env("VOLLEY_CACHE_DIR", cache);
    }
    Run::from_output(
        cmd.args(["run", script.to_str().unwrap(), "-q", "--summary-export"])
            .arg(&export)
            .output()
            .unwrap(),
    )
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A script importing `url` (a module whose `greet` says hello) and jslib's textSummary.
fn script_importing(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("script.js");
    std::fs::write(
        &path,
        format!(
            "import {{ check }} from 'k6';\n\
             import {{ greet }} from '{url}';\n\
             import {{ textSummary }} from 'https://jslib.k6.io/k6-summary/0.0.4/index.js';\n\
             export const options = {{ vus: 1, iterations: 2 }};\n\
             export default function () {{\n\
               check(greet('k6'), {{ 'greeted by the remote module': (g) => g === 'hello k6!' }});\n\
               check(textSummary, {{ 'textSummary is built in': (f) => typeof f === 'function' }});\n\
             }}\n"
        ),
    )
    .unwrap();
    path
}

fn passed(dir: &Path, check: &str) -> serde_json::Value {
    let s = read_json(&dir.join("summary.json"));
    s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == check)
        .map(|c| serde_json::json!([c["passes"], c["fails"]]))
        .unwrap_or_else(|| panic!("no check {check}: {s}"))
}

#[test]
fn remote_modules_are_pinned_reused_offline_and_refused_when_changed() {
    let dir = scratch("k6-remote");
    let modules = dir.join("served");
    std::fs::create_dir_all(&modules).unwrap();
    // A relative import inside a remote module resolves against the module's URL.
    let greet =
        "import { mark } from './mark.js';\nexport const greet = (n) => `hello ${n}${mark}`;\n";
    std::fs::write(modules.join("greet.js"), greet).unwrap();
    std::fs::write(modules.join("mark.js"), "export const mark = '!';\n").unwrap();
    let server = Server::with_files(&modules);
    let greet_url = format!("{}/files/greet.js", server.url());
    let mark_url = format!("{}/files/mark.js", server.url());
    let script = script_importing(&dir, &greet_url);
    let out = run(&script, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        passed(&dir, "greeted by the remote module"),
        serde_json::json!([2, 0])
    );
    assert_eq!(
        passed(&dir, "textSummary is built in"),
        serde_json::json!([2, 0])
    );
    // The lock names each fetched module with its sha256; the built-in one needs no pin.
    let lock: toml::Value =
        toml::from_str(&std::fs::read_to_string(dir.join("script.js.lock")).unwrap()).unwrap();
    let pinned = lock["modules"].as_table().unwrap();
    assert_eq!(pinned.len(), 2, "{lock}");
    assert_eq!(
        pinned[&greet_url].as_str(),
        Some(sha256(greet.as_bytes()).as_str())
    );
    assert_eq!(
        pinned[&mark_url].as_str(),
        Some(sha256(b"export const mark = '!';\n").as_str())
    );
    let fetched = server.paths().len();
    assert_eq!(fetched, 2, "{:?}", server.paths());

    // The remote changes: a build without the pinned copy (another machine, the lock checked
    // in) fails naming the module.
    std::fs::write(modules.join("mark.js"), "export const mark = '?';\n").unwrap();
    let out = run(&script, Some(&dir.join("fresh-cache")));
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("the module {mark_url} changed"))
            && out.stderr.contains("script.js.lock"),
        "{}",
        out.stderr
    );

    // Offline: the server is gone; the pinned copies in the cache build the same script.
    drop(server);
    let out = run(&script, None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        passed(&dir, "greeted by the remote module"),
        serde_json::json!([2, 0])
    );
}

/// A module server that answers every request with its headers, then `body` writing to the
/// connection until it fails (the client hung up).
fn module_server(body: fn(&mut std::net::TcpStream) -> std::io::Result<()>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ =
                    stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/javascript\r\n\r\n");
                while body(&mut stream).is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

/// A module server that answers every request with an endless body.
fn endless_server() -> String {
    module_server(|stream| stream.write_all("// endless\n".repeat(6000).as_bytes()))
}

#[test]
fn a_hostile_module_server_cannot_make_the_build_hold_more_than_the_cap() {
    let dir = scratch("k6-remote-endless");
    let script = script_importing(&dir, &format!("{}/greet.js", endless_server()));
    let out = run(&script, None);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("/greet.js") && out.stderr.contains("larger than 4 MiB"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_build_fetches_at_most_64_modules() {
    let dir = scratch("k6-remote-many");
    let modules = dir.join("served");
    std::fs::create_dir_all(&modules).unwrap();
    // m0 imports m1 imports m2 ... m69.
    for i in 0..70 {
        let next = if i < 69 {
            format!("import './m{}.js';\n", i + 1)
        } else {
            String::new()
        };
        std::fs::write(
            modules.join(format!("m{i}.js")),
            format!("{next}export const greet = (n) => `hello ${{n}}!`;\n"),
        )
        .unwrap();
    }
    let server = Server::with_files(&modules);
    let script = script_importing(&dir, &format!("{}/files/m0.js", server.url()));
    let out = run(&script, None);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("more than 64 remote modules"),
        "{}",
        out.stderr
    );
    assert!(server.hits() <= 64, "{}", server.hits());
}

/// A module server that sends its headers, then one byte every 200 ms for ever.
fn dripping_server() -> String {
    module_server(|stream| {
        std::thread::sleep(std::time::Duration::from_millis(200));
        stream.write_all(b" ")
    })
}

/// A server that never finishes a small module cannot hold the build: the fetch is ended
/// after its 30 s and the build fails naming the module.
#[test]
fn a_slow_drip_module_server_cannot_stall_the_build() {
    let dir = scratch("k6-remote-drip");
    let script = script_importing(&dir, &format!("{}/greet.js", dripping_server()));
    let out = run(&script, None);
    assert_eq!(out.code, 107, "{}", out.stderr);
    assert!(
        out.stderr.contains("/greet.js") && out.stderr.contains("timed out after 30s"),
        "{}",
        out.stderr
    );
}
