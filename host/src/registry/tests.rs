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
        resolve(&idx, &r("acme:checkout@1.2"), &empty)
            .unwrap()
            .1
            .version,
        "1.10.0"
    );
    assert_eq!(
        resolve(&idx, &r("acme:checkout@=1.2.3"), &empty)
            .unwrap()
            .1
            .version,
        "1.2.3"
    );
    assert_eq!(
        resolve(&idx, &r("acme:checkout"), &empty)
            .unwrap()
            .1
            .version,
        "2.0.0"
    );
    let mut lock = Lock::default();
    check_and_pin(&entry("1.2.3", DIGEST_A, &[]), &mut lock).unwrap();
    assert_eq!(
        resolve(&idx, &r("acme:checkout@1"), &lock)
            .unwrap()
            .1
            .version,
        "1.2.3",
        "the lock pins 1.2.3"
    );
    let e = resolve(&idx, &r("acme:checkout@3"), &empty)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("acme:checkout@3") && e.contains("index.toml"),
        "{e}"
    );
    assert!(resolve(&idx, &r("acme:other"), &empty).is_err());
}

#[test]
fn the_lock_refuses_changed_digests_and_widened_capabilities() {
    let mut lock = Lock::default();
    check_and_pin(
        &entry("1.0.0", DIGEST_A, &["http://127.0.0.1:8080"]),
        &mut lock,
    )
    .unwrap();
    let changed = check_and_pin(
        &entry("1.0.0", DIGEST_B, &["http://127.0.0.1:8080"]),
        &mut lock.clone(),
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
    );
    let msg = wider.unwrap_err().to_string();
    assert!(
        msg.contains("capabilities widened") && msg.contains("10.0.0.1"),
        "{msg}"
    );
    // Narrower is fine and re-pins.
    check_and_pin(&entry("1.0.0", DIGEST_A, &[]), &mut lock).unwrap();
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
        Some(crate::config::Dur(std::time::Duration::from_secs(10)));
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
