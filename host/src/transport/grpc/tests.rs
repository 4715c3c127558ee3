//! gRPC tests: loading `.proto` sources, JSON conversion, targets, limits and metadata.

use super::*;

pub(super) const HELLO: &str = r#"syntax = "proto3";
package hello;
import "google/protobuf/timestamp.proto";
service Greeter {
  rpc SayHello (HelloRequest) returns (HelloReply);
  rpc LotsOfReplies (HelloRequest) returns (stream HelloReply);
}
message HelloRequest { string name = 1; int64 count = 2; }
message HelloReply { string message = 1; google.protobuf.Timestamp at = 2; }
"#;

pub(super) fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect()
}

#[test]
fn loads_methods_with_well_known_imports() {
    let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    assert_eq!(
        d.method_names(),
        ["hello.Greeter/LotsOfReplies", "hello.Greeter/SayHello"]
    );
    let m = d.method("/hello.Greeter/LotsOfReplies").unwrap();
    assert_eq!(m.kind, MethodKind::ServerStreaming);
    assert_eq!(m.full_name, "/hello.Greeter/LotsOfReplies");
    assert_eq!(
        (m.service.as_str(), m.name.as_str()),
        ("hello.Greeter", "LotsOfReplies")
    );
    assert_eq!(
        d.method("hello.Greeter/Nope").unwrap_err(),
        GrpcError::UnknownMethod("hello.Greeter/Nope".into())
    );
}

#[test]
fn the_same_sources_share_one_compiled_set() {
    let a = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    let b = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = load(&sources(&[("other.proto", HELLO)])).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
}

#[test]
fn imports_resolve_among_the_sources() {
    let common = "syntax = \"proto3\";\npackage common;\nmessage Empty {}\n";
    let svc = "syntax = \"proto3\";\npackage svc;\nimport \"common/empty.proto\";\nservice S { rpc Ping (common.Empty) returns (common.Empty); }\n";
    let d = load(&sources(&[
        ("svc.proto", svc),
        ("common/empty.proto", common),
    ]))
    .unwrap();
    assert_eq!(d.method("svc.S/Ping").unwrap().kind, MethodKind::Unary);
}

#[test]
fn errors_name_the_file_and_line() {
    let bad = "syntax = \"proto3\";\npackage bad;\nmessage M {\n  strin name = 1;\n}\n";
    let err = load(&sources(&[("bad.proto", bad)])).unwrap_err();
    match &err {
        GrpcError::Proto { file, line, .. } => {
            assert_eq!((file.as_str(), *line), ("bad.proto", 4), "{err}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().starts_with("bad.proto:4:"), "{err}");
    let missing = "syntax = \"proto3\";\nimport \"nowhere.proto\";\n";
    let err = load(&sources(&[("m.proto", missing)])).unwrap_err();
    assert!(err.to_string().contains("nowhere.proto"), "{err}");
    assert_eq!(load(&[]).unwrap_err(), GrpcError::NoSources);
}

#[test]
fn json_round_trips_canonically() {
    let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    let m = d.method("hello.Greeter/SayHello").unwrap();
    // camelCase and proto names, 64-bit-safe numbers as strings or numbers.
    let a = m.request(r#"{"name":"x","count":"3"}"#).unwrap();
    let b = m.request(r#"{"name":"x","count":3}"#).unwrap();
    assert_eq!(a, b);
    // int64 goes back as a string, as protojson (and so k6) writes it.
    assert_eq!(
        to_json(&a, u64::MAX).unwrap().unwrap(),
        r#"{"name":"x","count":"3"}"#
    );
    // Defaults are included, as k6 gives them.
    let empty = m.request("{}").unwrap();
    assert_eq!(
        to_json(&empty, u64::MAX).unwrap().unwrap(),
        r#"{"name":"","count":"0"}"#
    );
    let err = m.request(r#"{"nmae":"x"}"#).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "unable to serialise request object to protocol buffer (hello.HelloRequest): "
        ),
        "{err}"
    );
    assert!(m.request(r#"{"name":"x"} trailing"#).is_err());
    assert!(m.request(r#"{"count":"many"}"#).is_err());
}

#[test]
fn targets_are_host_and_port() {
    let t = Target::parse("127.0.0.1:50051", false).unwrap();
    assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", 50051));
    assert_eq!(t.origin(), "http://127.0.0.1:50051/");
    let t = Target::parse("[::1]:443", true).unwrap();
    assert_eq!(
        (t.host.as_str(), t.origin().as_str()),
        ("::1", "https://[::1]:443/")
    );
    assert_eq!(Target::parse("Api.Test:1", false).unwrap().host, "api.test");
    for bad in [
        "localhost",
        "host:",
        ":80",
        "http://x:1/",
        "h:99999",
        "::1:80",
    ] {
        assert!(Target::parse(bad, false).is_err(), "{bad}");
    }
}

#[test]
fn targets_other_parsers_could_read_as_another_host_are_refused() {
    // Each would reach the sandbox as a URL that does not parse or names another host,
    // while the resolver dials the raw text.
    for bad in [
        "127.0.0.1 x:80",
        "a@127.0.0.1:80",
        "127.0.0.1#:80",
        "127.0.0.1?:80",
        "allowed.test\\@evil:80",
        "h%2e:80",
        "[127.0.0.1]:80",
    ] {
        assert_eq!(
            Target::parse(bad, false).unwrap_err(),
            GrpcError::InvalidTarget(bad.into()),
            "{bad}"
        );
    }
}

#[test]
fn json_expansion_stops_at_the_limit() {
    let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    let m = d.method("hello.Greeter/SayHello").unwrap();
    let msg = m.request(r#"{"name":"xxxxxxxxxx"}"#).unwrap();
    let full = to_json(&msg, u64::MAX).unwrap().unwrap();
    assert_eq!(
        to_json(&msg, full.len() as u64).unwrap(),
        Some(full.clone())
    );
    assert_eq!(to_json(&msg, full.len() as u64 - 1).unwrap(), None);
}

#[test]
fn encoded_messages_over_the_budget_are_refused_before_decoding() {
    let d = load(&sources(&[("hello.proto", HELLO)])).unwrap();
    let m = d.method("hello.Greeter/SayHello").unwrap();
    let mut decoder = DynamicCodec {
        output: m.output.clone(),
        max_bytes: 10,
    }
    .decoder();
    assert!(decoder.spend(6).is_ok());
    assert!(decoder.spend(4).is_ok());
    let e = decoder.spend(1).unwrap_err();
    assert_eq!(e.code(), tonic::Code::ResourceExhausted);
    assert!(e.message().contains("10 bytes"), "{}", e.message());
}

#[test]
fn metadata_keys_are_checked() {
    let mut map = MetadataMap::new();
    append_metadata(&mut map, &[("X-Trace".into(), "abc".into())]).unwrap();
    assert_eq!(map.get("x-trace").unwrap(), "abc");
    let err = append_metadata(&mut map, &[("bad key".into(), "v".into())]).unwrap_err();
    assert_eq!(err, GrpcError::InvalidMetadata("bad key".into()));
}
