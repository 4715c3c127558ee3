//! Tests of registry entries, references, transfers and their limits, and the lock file.

use super::*;

const DIGEST_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn entry(version: &str, digest: &str, hosts: &[&str]) -> Entry {
    Entry {
        name: "acme:checkout".into(),
        version: version.into(),
        source: "checkout.wasm".into(),
        digest: digest.into(),
        world: "volley:scenario/scenario@0.1.1".into(),
        description: None,
        capabilities: Capabilities {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Capabilities::default()
        },
    }
}

fn indexes(entries: Vec<Entry>) -> Vec<LoadedIndex> {
    vec![LoadedIndex {
        location: "index.toml".into(),
        index: Index { scenario: entries },
    }]
}

#[test]
fn parses_references() {
    let r = ScenarioRef::parse("acme:checkout@1.2").unwrap();
    assert_eq!(
        (r.name.as_str(), r.version.as_deref()),
        ("acme:checkout", Some("1.2"))
    );
    assert_eq!(ScenarioRef::parse("acme:checkout").unwrap().version, None);
    for not_a_ref in ["plugin.wasm", "./a:b", "C:/x.wasm", ":x", "a:", "a:b/c"] {
        assert!(ScenarioRef::parse(not_a_ref).is_none(), "{not_a_ref}");
    }
}

#[test]
fn resolves_the_highest_matching_version_or_the_locked_one() {
    let idx = indexes(vec![
        entry("1.1.0", DIGEST_A, &[]),
        entry("1.2.3", DIGEST_A, &[]),
        entry("1.10.0", DIGEST_A, &[]),
        entry("2.0.0", DIGEST_A, &[]),
    ]);
    let r = |s: &str| ScenarioRef::parse(s).unwrap();
    let empty = Lock::default();
    assert_eq!(
        resolve(&idx, &r("acme:checkout@1.2"), &empty, false)
            .unwrap()
            .1
            .version,
        "1.10.0"
    );
    assert_eq!(
        resolve(&idx, &r("acme:checkout@=1.2.3"), &empty, false)
            .unwrap()
            .1
            .version,
        "1.2.3"
    );
    assert_eq!(
        resolve(&idx, &r("acme:checkout"), &empty, false)
            .unwrap()
            .1
            .version,
        "2.0.0"
    );
    let mut lock = Lock::default();
    check_and_pin(&entry("1.2.3", DIGEST_A, &[]), &mut lock, false).unwrap();
    assert_eq!(
        resolve(&idx, &r("acme:checkout@1"), &lock, false)
            .unwrap()
            .1
            .version,
        "1.2.3",
        "the lock pins 1.2.3"
    );
    let e = resolve(&idx, &r("acme:checkout@3"), &empty, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("acme:checkout@3") && e.contains("index.toml"),
        "{e}"
    );
    assert!(resolve(&idx, &r("acme:other"), &empty, false).is_err());
}

#[test]
fn the_lock_refuses_changed_digests_and_widened_capabilities() {
    let mut lock = Lock::default();
    check_and_pin(
        &entry("1.0.0", DIGEST_A, &["http://127.0.0.1:8080"]),
        &mut lock,
        false,
    )
    .unwrap();
    let changed = check_and_pin(
        &entry("1.0.0", DIGEST_B, &["http://127.0.0.1:8080"]),
        &mut lock.clone(),
        false,
    );
    assert!(
        changed.unwrap_err().to_string().contains("now has digest"),
        "same version, new digest"
    );
    let wider = check_and_pin(
        &entry(
            "1.0.0",
            DIGEST_A,
            &["http://127.0.0.1:8080", "http://10.0.0.1:80"],
        ),
        &mut lock.clone(),
        false,
    );
    let msg = wider.unwrap_err().to_string();
    assert!(
        msg.contains("capabilities widened") && msg.contains("10.0.0.1"),
        "{msg}"
    );
    // Narrower is fine and re-pins.
    check_and_pin(&entry("1.0.0", DIGEST_A, &[]), &mut lock, false).unwrap();
    assert!(lock
        .get("acme:checkout")
        .unwrap()
        .capabilities
        .allowed_hosts
        .is_empty());
}

#[test]
fn capability_hash_ignores_host_order() {
    let a = entry("1.0.0", DIGEST_A, &["http://a:1", "http://b:2"]).capabilities;
    let b = entry("1.0.0", DIGEST_A, &["http://b:2", "http://a:1"]).capabilities;
    assert_eq!(a.hash(), b.hash());
    assert_ne!(a.hash(), Capabilities::default().hash());
}

#[test]
fn the_user_can_only_narrow_the_entry() {
    let mut e = entry(
        "1.0.0",
        DIGEST_A,
        &["http://127.0.0.1:8080", "http://127.0.0.1:9090"],
    );
    e.capabilities.max_memory_mib = Some(32);
    e.capabilities.max_iteration_duration =
        Some(crate::duration::Dur(std::time::Duration::from_secs(10)));
    let user = Sandbox::default();
    let s = narrow(&e, &user, false).unwrap();
    assert_eq!(s.allowed_hosts.len(), 2, "the entry's hosts by default");
    assert_eq!(
        s.max_memory,
        32 << 20,
        "the smaller of 64 MiB (default) and 32 MiB"
    );
    assert_eq!(
        s.max_iteration_duration,
        Some(std::time::Duration::from_secs(10))
    );
    let narrower = Sandbox {
        allowed_hosts: vec![HostPattern::parse("http://127.0.0.1:8080").unwrap()],
        ..Sandbox::default()
    };
    assert_eq!(narrow(&e, &narrower, true).unwrap().allowed_hosts.len(), 1);
    let wider = Sandbox {
        allowed_hosts: vec![HostPattern::parse("http://10.0.0.1:80").unwrap()],
        ..Sandbox::default()
    };
    let msg = narrow(&e, &wider, true).unwrap_err().to_string();
    assert!(
        msg.contains("allowed-hosts") && msg.contains("10.0.0.1"),
        "{msg}"
    );
    let longer = Sandbox {
        max_iteration_duration: Some(std::time::Duration::from_secs(60)),
        ..Sandbox::default()
    };
    assert!(narrow(&e, &longer, false).is_err());
}

#[test]
fn index_entries_are_validated() {
    let mut bad_digest = entry("1.0.0", "sha256:xyz", &[]);
    assert!(validate_entry(&bad_digest).unwrap_err().contains("digest"));
    bad_digest.digest = DIGEST_A.into();
    bad_digest.version = "one".into();
    assert!(validate_entry(&bad_digest)
        .unwrap_err()
        .contains("version 'one'"));
    let mut other_world = entry("1.0.0", DIGEST_A, &[]);
    other_world.world = "volley:scenario/scenario@0.2.0".into();
    assert!(validate_entry(&other_world).unwrap_err().contains("world"));
    let unknown_key = "[[scenario]]\nname = \"a:b\"\nversion = \"1.0.0\"\nsource = \"x\"\ndigest = \"sha256:00\"\nworld = \"w\"\nhomepage = \"x\"\n";
    let e = toml::from_str::<Index>(unknown_key)
        .unwrap_err()
        .to_string();
    assert!(e.contains("homepage"), "{e}");
}

#[test]
fn a_locked_name_accepts_no_other_digest_unless_the_lock_is_updated() {
    let mut lock = Lock::default();
    check_and_pin(&entry("1.0.0", DIGEST_A, &[]), &mut lock, false).unwrap();
    // 1.0.0 vanished from the index; 1.1.0 has another digest.
    let idx = indexes(vec![entry("1.1.0", DIGEST_B, &[])]);
    let r = ScenarioRef::parse("acme:checkout@1").unwrap();
    let (_, e) = resolve(&idx, &r, &lock, false).unwrap();
    let msg = check_and_pin(e, &mut lock.clone(), false)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(DIGEST_A) && msg.contains(DIGEST_B) && msg.contains("--update-lock"),
        "{msg}"
    );
    check_and_pin(e, &mut lock, true).unwrap();
    let pinned = lock.get("acme:checkout").unwrap();
    assert_eq!(
        (pinned.version.as_str(), pinned.digest.as_str()),
        ("1.1.0", DIGEST_B)
    );
}

#[test]
fn updating_the_lock_resolves_the_highest_version_again() {
    let idx = indexes(vec![
        entry("1.0.0", DIGEST_A, &[]),
        entry("1.1.0", DIGEST_B, &[]),
    ]);
    let mut lock = Lock::default();
    check_and_pin(&idx[0].index.scenario[0], &mut lock, false).unwrap();
    let r = ScenarioRef::parse("acme:checkout@1").unwrap();
    assert_eq!(resolve(&idx, &r, &lock, false).unwrap().1.version, "1.0.0");
    assert_eq!(resolve(&idx, &r, &lock, true).unwrap().1.version, "1.1.0");
}

#[test]
fn the_world_range_is_the_hosts_own_wit_version() {
    let host = semver::Version::parse(crate::vu::WORLD_VERSION).unwrap();
    let with_world = |v: &str| {
        let mut e = entry("1.0.0", DIGEST_A, &[]);
        e.world = format!("volley:scenario/scenario@{v}");
        validate_entry(&e)
    };
    for ok in [
        "0.1.0".to_string(),
        "0.1.3".to_string(),
        crate::vu::WORLD_VERSION.to_string(),
    ] {
        assert_eq!(with_world(&ok), Ok(()), "{ok}");
    }
    let newer_patch = format!("{}.{}.{}", host.major, host.minor, host.patch + 1);
    let newer_minor = format!("{}.{}.0", host.major, host.minor + 1);
    for refused in [
        newer_patch,
        newer_minor,
        "0.1.3-rc.1".to_string(),
        "x".into(),
    ] {
        let msg = with_world(&refused).unwrap_err();
        assert!(
            msg.contains(&refused) && msg.contains(crate::vu::WORLD_VERSION),
            "{msg}"
        );
    }
    let mut other = entry("1.0.0", DIGEST_A, &[]);
    other.world = format!("acme:other/world@{}", crate::vu::WORLD_VERSION);
    assert!(validate_entry(&other).is_err());
}

/// A fresh directory under the system temp dir, removed first if a previous run left it.
fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("volley-registry-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn refused_rule(r: Result<Vec<u8>, TransferError>) -> String {
    match r {
        Err(TransferError::Refused { rule }) => rule,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_local_source_is_a_regular_file_under_the_index() {
    use transfer::{read_local_source_now as read, read_regular_file};
    let root = temp("local");
    let dir = root.join("index");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.wasm"), b"component").unwrap();
    std::fs::write(root.join("outside.wasm"), b"outside").unwrap();
    std::os::unix::fs::symlink(root.join("outside.wasm"), dir.join("link.wasm")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.join("zero.wasm")).unwrap();
    let fifo = std::ffi::CString::new(dir.join("fifo.wasm").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let limits = Limits::default();

    assert_eq!(read(&dir, "a.wasm", &limits).unwrap(), b"component");
    assert_eq!(read(&dir, "sub/../a.wasm", &limits).unwrap(), b"component");
    let abs = dir.join("a.wasm").display().to_string();
    for absolute in [abs.as_str(), "/dev/zero"] {
        let rule = refused_rule(read(&dir, absolute, &limits));
        assert!(rule.contains("absolute path"), "{rule}");
    }
    for outside in ["../outside.wasm", "link.wasm", "zero.wasm"] {
        let rule = refused_rule(read(&dir, outside, &limits));
        assert!(
            rule.contains("outside the index's directory"),
            "{outside}: {rule}"
        );
    }
    let rule = refused_rule(read(&dir, "fifo.wasm", &limits));
    assert!(
        rule.contains("a FIFO") && rule.contains("regular file"),
        "{rule}"
    );
    let rule = refused_rule(read_regular_file(Path::new("/dev/zero"), &limits));
    assert!(rule.contains("a character device"), "{rule}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn local_reads_stop_at_the_cap() {
    let dir = temp("cap");
    let limits = Limits::with_max_mib(Some(1)).unwrap();
    std::fs::write(dir.join("fits.wasm"), vec![7u8; 1 << 20]).unwrap();
    std::fs::write(dir.join("big.wasm"), vec![7u8; (1 << 20) + 1]).unwrap();
    assert_eq!(
        transfer::read_local_source_now(&dir, "fits.wasm", &limits)
            .unwrap()
            .len(),
        1 << 20
    );
    let e = transfer::read_local_source_now(&dir, "big.wasm", &limits).unwrap_err();
    assert!(matches!(e, TransferError::TooLarge { cap_mib: 1 }), "{e}");
    assert!(e.to_string().contains("registry-max-download-mib"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cap_is_checked_on_the_announced_size_and_on_every_chunk() {
    let limits = Limits::with_max_mib(Some(1)).unwrap();
    assert!(transfer::Capped::new(&limits, Some((1 << 20) + 1)).is_err());
    let mut body = transfer::Capped::new(&limits, None).unwrap();
    body.push(&vec![0u8; 1 << 20]).unwrap();
    assert!(matches!(
        body.push(&[0]),
        Err(TransferError::TooLarge { cap_mib: 1 })
    ));
}

#[test]
fn the_download_cap_option_is_validated() {
    assert_eq!(Limits::with_max_mib(None).unwrap().max_mib, 256);
    assert_eq!(Limits::with_max_mib(Some(3)).unwrap().max_bytes(), 3 << 20);
    for bad in [0, u64::MAX] {
        let e = Limits::with_max_mib(Some(bad)).unwrap_err().to_string();
        assert!(e.contains("registry-max-download-mib"), "{e}");
    }
}

#[tokio::test]
async fn a_stalled_server_times_out() {
    // Connections complete in the kernel's backlog; nothing ever answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/index.toml", listener.local_addr().unwrap());
    let limits = Limits {
        timeout: std::time::Duration::from_millis(300),
        ..Limits::default()
    };
    let started = std::time::Instant::now();
    let e = transfer::download(&url, &limits).await.unwrap_err();
    assert!(matches!(e, TransferError::TimedOut { .. }), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(listener);
}
