//! Registries end to end: an index on disk and over HTTP, the content-addressed cache, the lock
//! file, capability narrowing, and OCI push/pull against a real registry (Debian's
//! `docker-registry`, started here).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::{component, read_json, read_until_line, scratch, volley, Child, Run, Server};

/// A registry directory holding the probe component and an index for it.
struct Fixture {
    dir: PathBuf,
    cache: PathBuf,
    digest: String,
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    format!("sha256:{}", text.split_whitespace().next().unwrap())
}

impl Fixture {
    fn new(name: &str, hosts: &[String]) -> Fixture {
        let dir = scratch(name);
        std::fs::copy(component("probe"), dir.join("probe-1.2.0.wasm")).unwrap();
        let digest = sha256_of(&dir.join("probe-1.2.0.wasm"));
        let f = Fixture {
            cache: dir.join("cache"),
            dir,
            digest,
        };
        f.write_index(&f.digest, hosts, "");
        f
    }

    fn write_index(&self, digest: &str, hosts: &[String], extra: &str) {
        let hosts: Vec<String> = hosts.iter().map(|h| format!("\"{h}\"")).collect();
        std::fs::write(
            self.dir.join("index.toml"),
            format!(
                r#"[[scenario]]
name = "acme:probe"
version = "1.1.0"
source = "probe-1.2.0.wasm"
digest = "{digest}"
world = "volley:scenario/scenario@0.1.1"

[[scenario]]
name = "acme:probe"
version = "1.2.0"
source = "probe-1.2.0.wasm"
digest = "{digest}"
world = "volley:scenario/scenario@0.1.1"
description = "the test probe"
{extra}
[scenario.capabilities]
allowed-hosts = [{}]
max-memory-mib = 32
"#,
                hosts.join(", ")
            ),
        )
        .unwrap();
    }

    fn index(&self) -> String {
        self.dir.join("index.toml").display().to_string()
    }

    /// `volley run acme:probe@… --registry INDEX` from the fixture directory (where the lock goes).
    fn run(&self, reference: &str, registry: &str, extra: &[&str]) -> Run {
        let export = self.dir.join("s.json");
        let _ = std::fs::remove_file(&export);
        let mut cmd = volley();
        cmd.current_dir(&self.dir)
            .env("VOLLEY_CACHE_DIR", &self.cache)
            .args([
                "run",
                reference,
                "--registry",
                registry,
                "--iterations",
                "2",
                "-q",
            ])
            .args(["--summary-export", export.to_str().unwrap()])
            .args(extra);
        Run::from_output(cmd.output().unwrap())
    }

    fn cached(&self) -> Vec<String> {
        std::fs::read_dir(self.cache.join("registry").join("sha256"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[test]
fn runs_a_scenario_by_name_verifies_caches_and_locks_it() {
    let server = Server::start();
    let fx = Fixture::new("reg-run", &[server.url()]);
    let base = format!("BASE_URL={}", server.url());
    fx.run("acme:probe@1.2", &fx.index(), &["-e", &base])
        .expect_code(0);
    assert_eq!(server.hits(), 2);
    assert_eq!(
        fx.cached(),
        vec![format!("{}.wasm", fx.digest.trim_start_matches("sha256:"))]
    );
    let lock = std::fs::read_to_string(fx.dir.join("volley.lock")).unwrap();
    assert!(
        lock.contains("name = \"acme:probe\"") && lock.contains("version = \"1.2.0\""),
        "{lock}"
    );
    assert!(
        lock.contains(&fx.digest) && lock.contains("capabilities-hash = \"sha256:"),
        "{lock}"
    );
    // `@1` resolves to the highest 1.x: 1.2.0 (the lock agrees).
    fx.run("acme:probe@1", &fx.index(), &["-e", &base])
        .expect_code(0);

    // The same version with another digest is refused by the lock.
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    fx.write_index(other, &[server.url()], "");
    let out = fx
        .run("acme:probe@1.2", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("now has digest") && out.stderr.contains("volley.lock"),
        "{}",
        out.stderr
    );

    // Widened capabilities are refused by the lock too.
    fx.write_index(&fx.digest, &[server.url(), "http://10.1.2.3:80".into()], "");
    let out = fx
        .run("acme:probe@1.2", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("capabilities widened") && out.stderr.contains("10.1.2.3"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_digest_mismatch_is_refused_before_anything_is_cached() {
    let server = Server::start();
    let fx = Fixture::new("reg-mismatch", &[server.url()]);
    let wrong = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    fx.write_index(wrong, &[server.url()], "");
    let out = fx
        .run(
            "acme:probe@1.2",
            &fx.index(),
            &["-e", &format!("BASE_URL={}", server.url())],
        )
        .expect_code(107);
    assert!(
        out.stderr.contains("digest mismatch") && out.stderr.contains(&fx.digest),
        "{}",
        out.stderr
    );
    assert!(
        fx.cached().is_empty(),
        "nothing unverified in the cache: {:?}",
        fx.cached()
    );
    assert!(!fx.dir.join("volley.lock").exists(), "nothing pinned");
    assert_eq!(server.hits(), 0);
}

#[test]
fn bad_references_and_indexes_fail_before_the_test() {
    let server = Server::start();
    let fx = Fixture::new("reg-bad", &[server.url()]);
    let base = format!("BASE_URL={}", server.url());
    let out = fx
        .run("acme:probe@3", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("no scenario acme:probe@3"),
        "{}",
        out.stderr
    );
    let out = fx
        .run("acme:nothing", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("no scenario acme:nothing"),
        "{}",
        out.stderr
    );
    fx.write_index(&fx.digest, &[], "homepage = \"x\"");
    let out = fx
        .run("acme:probe", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("unknown field `homepage`"),
        "unknown key named: {}",
        out.stderr
    );
    let out = fx
        .run(
            "acme:probe",
            "http://127.0.0.1:9/index.toml",
            &["-e", &base],
        )
        .expect_code(107);
    assert!(
        out.stderr
            .contains("registry index http://127.0.0.1:9/index.toml"),
        "{}",
        out.stderr
    );
    let world = std::fs::read_to_string(fx.dir.join("index.toml"))
        .unwrap()
        .replace("homepage = \"x\"", "");
    std::fs::write(fx.dir.join("index.toml"), world.replace("@0.1.1", "@0.9.0")).unwrap();
    let out = fx
        .run("acme:probe", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr
            .contains("world 'volley:scenario/scenario@0.9.0'"),
        "{}",
        out.stderr
    );
    assert_eq!(server.hits(), 0);
}

#[test]
fn entry_capabilities_bound_the_sandbox() {
    let allowed = Server::start();
    let elsewhere = Server::start();
    let fx = Fixture::new("reg-caps", &[allowed.url()]);
    // BASE_URL points at a host the entry does not declare: every request is denied.
    let out = fx
        .run(
            "acme:probe",
            &fx.index(),
            &["-e", &format!("BASE_URL={}", elsewhere.url())],
        )
        .expect_code(0);
    let s = read_json(&fx.dir.join("s.json"));
    assert_eq!(
        s["metrics"]["http_req_failed"]["values"]["passes"], 2,
        "{}",
        out.stdout
    );
    assert_eq!(elsewhere.hits(), 0, "denied requests never connect");
    // A user grant wider than the entry is refused.
    let test = fx.dir.join("wider.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"acme:probe\"\nregistries = [\"index.toml\"]\niterations = 1\n[sandbox]\nallowed-hosts = [\"{}\"]\n[env]\nBASE_URL = \"{}\"\n",
            elsewhere.url(),
            elsewhere.url()
        ),
    )
    .unwrap();
    let out = Run::from_output(
        volley()
            .env("VOLLEY_CACHE_DIR", &fx.cache)
            .args(["run", test.to_str().unwrap(), "-q"])
            .output()
            .unwrap(),
    )
    .expect_code(107);
    assert!(
        out.stderr.contains("sandbox.allowed-hosts") && out.stderr.contains("not among the hosts"),
        "{}",
        out.stderr
    );
}

#[test]
fn index_served_over_http_and_index_build() {
    let server = Server::start();
    let fx = Fixture::new("reg-http", &[server.url()]);
    // `index build` fills in digests of local sources.
    let zero = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
    fx.write_index(zero, &[server.url()], "");
    let built = Run::from_output(
        volley()
            .args(["registry", "index", "build"])
            .arg(&fx.dir)
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(built.stdout.contains(&fx.digest), "{}", built.stdout);
    let files = Server::with_files(&fx.dir);
    let url = format!("{}/files/index.toml", files.url());
    let check = Run::from_output(volley().args(["registry", "check", &url]).output().unwrap())
        .expect_code(0);
    assert!(
        check.stdout.contains("ok acme:probe@1.2.0"),
        "{}",
        check.stdout
    );
    let list = Run::from_output(
        volley()
            .args(["registry", "list", "--registry", &url])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(
        list.stdout.contains("acme:probe@1.2.0") && list.stdout.contains("the test probe"),
        "{}",
        list.stdout
    );
    fx.run(
        "acme:probe@1.2",
        &url,
        &["-e", &format!("BASE_URL={}", server.url())],
    )
    .expect_code(0);
    assert_eq!(server.hits(), 2);
}

/// A real OCI registry on a free loopback port, stopped on drop.
struct OciRegistry {
    _child: Child,
    port: u16,
}

impl OciRegistry {
    fn start() -> Option<OciRegistry> {
        let binary = crate::support::required_tool(
            "docker-registry",
            &["/usr/bin/docker-registry"],
            "apt-get install docker-registry",
        )?;
        let dir = scratch("oci-registry");
        // The registry picks its own port and logs it: no port changes hands. Level info for
        // that line; the registry logs nothing else until requests come.
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:0\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut child = Child::spawn(
            Command::new(binary)
                .args(["serve", config.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        );
        let log = read_until_line(
            child.stderr.take().unwrap(),
            "msg=\"listening on 127.0.0.1:",
            std::time::Duration::from_secs(20),
        );
        let port = log
            .split_once("msg=\"listening on 127.0.0.1:")
            .and_then(|(_, p)| p.split('"').next()?.parse().ok())
            .unwrap_or_else(|| panic!("no listening port in:\n{log}"));
        Some(OciRegistry {
            _child: child,
            port,
        })
    }
}

#[test]
fn oci_push_and_pull_through_a_real_registry() {
    let Some(oci) = OciRegistry::start() else {
        return;
    };
    let server = Server::start();
    let fx = Fixture::new("reg-oci", &[server.url()]);
    let reference = format!("oci://127.0.0.1:{}/acme/probe:1.2.0", oci.port);
    let pushed = Run::from_output(
        volley()
            .args([
                "registry",
                "push",
                fx.dir.join("probe-1.2.0.wasm").to_str().unwrap(),
                &reference,
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(pushed.stdout.starts_with(&fx.digest), "{}", pushed.stdout);
    let index = std::fs::read_to_string(fx.dir.join("index.toml")).unwrap();
    std::fs::write(
        fx.dir.join("index.toml"),
        index.replace(
            "source = \"probe-1.2.0.wasm\"",
            &format!("source = \"{reference}\""),
        ),
    )
    .unwrap();
    std::fs::remove_file(fx.dir.join("probe-1.2.0.wasm")).unwrap();
    fx.run(
        "acme:probe@1.2",
        &fx.index(),
        &["-e", &format!("BASE_URL={}", server.url())],
    )
    .expect_code(0);
    assert_eq!(server.hits(), 2, "the pulled component ran");
    assert_eq!(
        fx.cached().len(),
        1,
        "pulled bytes verified and cached: {:?}",
        fx.cached()
    );
    let pulled = Run::from_output(
        volley()
            .env("VOLLEY_CACHE_DIR", &fx.cache)
            .args([
                "registry",
                "pull",
                "acme:probe@1.2",
                "--registry",
                &fx.index(),
            ])
            .output()
            .unwrap(),
    )
    .expect_code(0);
    assert!(pulled.stdout.contains(&fx.digest), "{}", pulled.stdout);
}

/// `cmd`'s outcome, or a failed test if it has not ended within `limit` (then it is killed).
fn run_within(mut cmd: Command, limit: std::time::Duration) -> Run {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Run::from_output(out.unwrap()),
        Err(_) => {
            // SAFETY: kill(2) on the child we spawned.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("volley did not end within {limit:?}");
        }
    }
}

/// An HTTP server on 127.0.0.1 whose every response is an endless chunked body (no
/// Content-Length). Returns its URL and the count of body bytes it managed to write.
fn endless_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicU64, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let written = std::sync::Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.read(&mut [0u8; 4096]);
                let chunk = vec![b'z'; 64 << 10];
                let mut out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
                loop {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(&chunk);
                    out.extend_from_slice(b"\r\n");
                    if stream.write_all(&out).is_err() {
                        return;
                    }
                    counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    out.clear();
                }
            });
        }
    });
    (url, written)
}

/// An index of one entry `acme:NAME@1.0.0` with `source`, in a fresh directory.
fn one_entry_index(dir: &Path, name: &str, source: &str, digest: &str) -> String {
    let index = dir.join(format!("{name}.toml"));
    std::fs::write(
        &index,
        format!(
            "[[scenario]]\nname = \"acme:{name}\"\nversion = \"1.0.0\"\nsource = \"{source}\"\ndigest = \"{digest}\"\nworld = \"volley:scenario/scenario@0.1.1\"\n"
        ),
    )
    .unwrap();
    index.display().to_string()
}

const ANY_DIGEST: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";

#[test]
fn endless_downloads_stop_at_the_size_cap() {
    let (url, written) = endless_server();
    let dir = scratch("reg-endless");
    let quick = std::time::Duration::from_secs(60);
    // A component source: the cap from the CLI flag.
    let index = one_entry_index(&dir, "endless", &format!("{url}/c.wasm"), ANY_DIGEST);
    let mut cmd = volley();
    cmd.current_dir(&dir).args([
        "run",
        "acme:endless",
        "--registry",
        &index,
        "--registry-max-download-mib",
        "1",
    ]);
    let out = run_within(cmd, quick).expect_code(107);
    assert!(
        out.stderr.contains("acme:endless@1.0.0")
            && out.stderr.contains(&format!("{url}/c.wasm"))
            && out.stderr.contains("download cap of 1 MiB"),
        "{}",
        out.stderr
    );
    // The index itself: the cap from the environment.
    let mut cmd = volley();
    cmd.current_dir(&dir)
        .env("VOLLEY_REGISTRY_MAX_DOWNLOAD_MIB", "2")
        .args([
            "run",
            "acme:endless",
            "--registry",
            &format!("{url}/index.toml"),
        ]);
    let out = run_within(cmd, quick).expect_code(107);
    assert!(
        out.stderr
            .contains(&format!("registry index {url}/index.toml"))
            && out.stderr.contains("download cap of 2 MiB"),
        "{}",
        out.stderr
    );
    // Read while streaming: the server got rid of little more than the caps plus socket buffers.
    let sent = written.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 64 << 20, "{sent} bytes were sent");
}

#[test]
fn an_oversized_component_is_refused_by_the_test_files_cap() {
    let dir = scratch("reg-oversized");
    std::fs::write(dir.join("big.wasm"), vec![0u8; 3 << 20]).unwrap();
    let files = Server::with_files(&dir);
    let index = one_entry_index(
        &dir,
        "big",
        &format!("{}/files/big.wasm", files.url()),
        ANY_DIGEST,
    );
    let test = dir.join("big-test.toml");
    std::fs::write(
        &test,
        format!(
            "plugin = \"acme:big\"\nregistries = [\"{index}\"]\nregistry-max-download-mib = 2\n"
        ),
    )
    .unwrap();
    let out = Run::from_output(
        volley()
            .args(["run", test.to_str().unwrap(), "-q"])
            .output()
            .unwrap(),
    )
    .expect_code(107);
    assert!(
        out.stderr.contains("acme:big@1.0.0") && out.stderr.contains("download cap of 2 MiB"),
        "{}",
        out.stderr
    );
    let out = Run::from_output(
        volley()
            .args([
                "run",
                "acme:big",
                "--registry",
                &index,
                "--registry-max-download-mib",
                "0",
            ])
            .output()
            .unwrap(),
    )
    .expect_code(104);
    assert!(
        out.stderr
            .contains("registry-max-download-mib: expected at least 1 (MiB)"),
        "{}",
        out.stderr
    );
}

#[test]
fn local_sources_must_be_regular_files_under_the_index() {
    let root = scratch("reg-local");
    let dir = root.join("registry");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(component("probe"), root.join("outside.wasm")).unwrap();
    let digest = sha256_of(&root.join("outside.wasm"));
    let fifo = dir.join("fifo.wasm");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let absolute = root.join("outside.wasm").display().to_string();
    let cases = [
        ("zero", "/dev/zero", "absolute path"),
        ("abs", absolute.as_str(), "absolute path"),
        (
            "outside",
            "../outside.wasm",
            "outside the index's directory",
        ),
        ("fifo", "fifo.wasm", "a FIFO, not a regular file"),
    ];
    for (name, source, rule) in cases {
        let index = one_entry_index(&dir, name, source, &digest);
        let mut cmd = volley();
        cmd.current_dir(&dir)
            .args(["run", &format!("acme:{name}"), "--registry", &index]);
        let out = run_within(cmd, std::time::Duration::from_secs(30)).expect_code(107);
        assert!(
            out.stderr.contains(&format!("acme:{name}@1.0.0"))
                && out.stderr.contains(&format!("source '{source}'"))
                && out.stderr.contains(rule),
            "{name}: {}",
            out.stderr
        );
    }
    // `index build` follows the same rules.
    std::fs::copy(dir.join("zero.toml"), dir.join("index.toml")).unwrap();
    let out = run_within(
        {
            let mut cmd = volley();
            cmd.args(["registry", "index", "build"]).arg(&dir);
            cmd
        },
        std::time::Duration::from_secs(30),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("absolute path"), "{}", out.stderr);
}

/// The probe component with a custom section appended: valid, and of another digest.
fn probe_variant(path: &Path) {
    let mut bytes = std::fs::read(component("probe")).unwrap();
    bytes.extend_from_slice(&[0, 5, 4, b'n', b'o', b'n', b'e']);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_locked_name_is_not_repinned_to_another_digest_without_update_lock() {
    let server = Server::start();
    let fx = Fixture::new("reg-repin", &[server.url()]);
    let base = format!("BASE_URL={}", server.url());
    fx.run("acme:probe@1", &fx.index(), &["-e", &base])
        .expect_code(0);
    // 1.1.0 and 1.2.0 vanish; 1.3.0 is other bytes.
    probe_variant(&fx.dir.join("probe-1.3.0.wasm"));
    let new_digest = sha256_of(&fx.dir.join("probe-1.3.0.wasm"));
    let index = std::fs::read_to_string(fx.dir.join("index.toml")).unwrap();
    let last = index.rfind("[[scenario]]").unwrap();
    std::fs::write(
        fx.dir.join("index.toml"),
        index[last..]
            .replace("1.2.0", "1.3.0")
            .replace(&fx.digest, &new_digest),
    )
    .unwrap();
    let out = fx
        .run("acme:probe@1", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains(&fx.digest)
            && out.stderr.contains(&new_digest)
            && out.stderr.contains("--update-lock"),
        "{}",
        out.stderr
    );
    let lock = std::fs::read_to_string(fx.dir.join("volley.lock")).unwrap();
    assert!(
        lock.contains(&fx.digest) && !lock.contains(&new_digest),
        "{lock}"
    );
    let out = fx
        .run("acme:probe@1", &fx.index(), &["-e", &base, "--update-lock"])
        .expect_code(0);
    assert!(
        out.stderr.contains(&new_digest),
        "the change is reported: {}",
        out.stderr
    );
    let lock = std::fs::read_to_string(fx.dir.join("volley.lock")).unwrap();
    assert!(
        lock.contains(&new_digest)
            && lock.contains("version = \"1.3.0\"")
            && !lock.contains(&fx.digest),
        "{lock}"
    );
    fx.run("acme:probe@1", &fx.index(), &["-e", &base])
        .expect_code(0);
}

#[test]
fn entries_for_the_hosts_own_world_run() {
    let server = Server::start();
    let fx = Fixture::new("reg-world", &[server.url()]);
    let base = format!("BASE_URL={}", server.url());
    let index = std::fs::read_to_string(fx.dir.join("index.toml")).unwrap();
    std::fs::write(fx.dir.join("index.toml"), index.replace("@0.1.1", "@0.1.3")).unwrap();
    fx.run("acme:probe", &fx.index(), &["-e", &base])
        .expect_code(0);
    std::fs::write(fx.dir.join("index.toml"), index.replace("@0.1.1", "@0.2.0")).unwrap();
    let out = fx
        .run("acme:probe", &fx.index(), &["-e", &base])
        .expect_code(107);
    assert!(
        out.stderr.contains("@0.2.0") && out.stderr.contains("0.1.0 to 0.1.5"),
        "{}",
        out.stderr
    );
}

#[test]
fn cache_directories_others_can_write_are_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start();
    let fx = Fixture::new("reg-cache-perm", &[server.url()]);
    let registry_cache = fx.cache.join("registry");
    std::fs::create_dir_all(&registry_cache).unwrap();
    for dir in [&fx.cache, &registry_cache] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    let out = fx
        .run(
            "acme:probe",
            &fx.index(),
            &["-e", &format!("BASE_URL={}", server.url())],
        )
        .expect_code(0);
    for dir in [&fx.cache, &registry_cache] {
        let warning = format!("cache directory {} is not used", dir.display());
        assert_eq!(out.stderr.matches(&warning).count(), 1, "{}", out.stderr);
    }
    assert!(fx.cached().is_empty(), "{:?}", fx.cached());
    let compiled: Vec<_> = std::fs::read_dir(&fx.cache)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
        .collect();
    assert!(
        compiled.is_empty(),
        "no compiled code written: {compiled:?}"
    );
    assert_eq!(server.hits(), 2, "the scenario still ran");
}
