//! `volley merge`: JSON summaries read back, segments added up exactly, thresholds evaluated again.

use std::path::{Path, PathBuf};

use crate::support::{probe_test, read_json, run, run_with_summary, Run, Server};

/// Runs `test` for one execution segment of `0,1/4,3/4,1`, exporting to `SEGMENT.json` beside it.
fn run_segment(test: &Path, segment: &str) -> PathBuf {
    let export = test.with_file_name(format!("{}.json", segment.replace([':', '/'], "_")));
    run(&[
        "run",
        test.to_str().unwrap(),
        "-q",
        "--execution-segment",
        segment,
        "--execution-segment-sequence",
        "0,1/4,3/4,1",
        "--summary-export",
        export.to_str().unwrap(),
    ])
    .expect_code(0);
    export
}

/// A metric's count in a summary (0 when absent: no sample was recorded).
fn count(s: &serde_json::Value, metric: &str) -> f64 {
    s["metrics"][metric]["values"]["count"]
        .as_f64()
        .unwrap_or(0.0)
}

fn merge(files: &[&Path], extra: &[&str]) -> Run {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend_from_slice(extra);
    run(&args)
}

const TEST: &str = "[scenarios.si]\nexecutor = \"shared-iterations\"\nvus = 4\niterations = 40\n\n\
[scenarios.car]\nexecutor = \"constant-arrival-rate\"\nrate = 20\nduration = \"1s\"\npreAllocatedVUs = 4\n\n\
[thresholds]\nhttp_reqs = [\"count<50\"]\nhttp_req_duration = [\"p(95)<2000\", \"max<2000 over 10s\"]\n\
\"checks{check:status is 200}\" = [\"rate>0.99\"]\n";

#[test]
fn a_summary_merged_alone_round_trips_exactly() {
    let server = Server::start();
    let test = probe_test(&server, "merge-roundtrip", TEST, "REQUESTS = \"1\"");
    let (_, original) = run_with_summary(&test, &[], 99);
    let again = test.with_file_name("again.json");
    let out = merge(
        &[&test.with_extension("json")],
        &["--summary-export", again.to_str().unwrap()],
    )
    .expect_code(99);
    assert!(
        out.stdout.contains("http_reqs"),
        "prints the summary: {}",
        out.stdout
    );
    assert_eq!(
        read_json(&again),
        original,
        "merge of one summary reproduces it"
    );
    assert!(
        original["metrics"]["http_req_duration"]["exact"]["sum"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn segments_merge_into_the_single_run_and_thresholds_apply_to_the_whole() {
    let server = Server::start();
    let test = probe_test(&server, "merge-segments", TEST, "REQUESTS = \"1\"");
    let (_, whole) = run_with_summary(&test, &[], 99);
    let parts: Vec<PathBuf> = ["0:1/4", "1/4:3/4", "3/4:1"]
        .iter()
        .map(|s| run_segment(&test, s))
        .collect();
    let merged_path = test.with_file_name("merged.json");
    let refs: Vec<&Path> = parts.iter().map(PathBuf::as_path).collect();
    let out = merge(
        &refs,
        &[
            "--summary-export",
            merged_path.to_str().unwrap(),
            "--no-summary",
        ],
    )
    .expect_code(99);
    // 40 shared iterations plus 21 arrival-rate starts, each a request when a VU was free: what
    // the schedule guarantees is the 61 starts, not that a busy machine never dropped one (the
    // whole run and the parts are separate runs, so their drops may differ). Every segment holds
    // count<50 (at most 31 requests); the merged run, at least 50 unless 11 starts were dropped,
    // does not.
    assert!(
        out.stderr.contains("http_reqs count<50"),
        "every segment held count<50, the merged requests do not: {}",
        out.stderr
    );
    let merged = read_json(&merged_path);
    assert_eq!(merged["segment"], "0:1");
    for s in [&whole, &merged] {
        let reqs = count(s, "http_reqs");
        assert_eq!(reqs + count(s, "dropped_iterations"), 61.0, "{s}");
        assert_eq!(count(s, "iterations"), reqs, "one request per iteration");
        assert_eq!(
            s["iterations"]["complete"].as_f64(),
            Some(reqs),
            "{}",
            s["iterations"]
        );
        assert_eq!(count(s, "http_req_duration"), reqs, "the histograms add up");
        let status = s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "status is 200")
            .unwrap();
        assert_eq!(status["passes"].as_f64(), Some(reqs));
    }
    let merged_reqs = count(&merged, "http_reqs");
    let thresholds = &merged["metrics"]["http_req_duration"]["thresholds"];
    assert_eq!(thresholds["p(95)<2000"]["ok"], true);
    assert_eq!(
        thresholds["max<2000 over 10s"]["ok"], true,
        "windowed: held in every part"
    );
    assert_eq!(
        merged["metrics"]["checks{check:status is 200}"]["values"]["passes"].as_f64(),
        Some(merged_reqs)
    );
    assert_eq!(
        merged["metrics"]["http_reqs"]["thresholds"]["count<50"]["ok"],
        false
    );

    // The same segment twice is refused, naming both files.
    let dup = merge(&[refs[0], refs[1], refs[0]], &["--no-summary"]).expect_code(104);
    assert!(
        dup.stderr.contains("overlap (segments 0:1/4 and 0:1/4)"),
        "{}",
        dup.stderr
    );
}

#[test]
fn a_file_that_is_not_a_summary_is_named() {
    let dir = crate::support::scratch("merge-bad");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"schema\": \"k6\"}").unwrap();
    let out = merge(&[&bad], &[]).expect_code(104);
    assert!(
        out.stderr
            .contains("bad.json: \"schema\" is \"k6\", expected \"volley.summary/v1\""),
        "{}",
        out.stderr
    );
    std::fs::write(&bad, "{ not json").unwrap();
    let out = merge(&[&bad], &[]).expect_code(104);
    assert!(
        out.stderr
            .contains("bad.json: not JSON: key must be a string at line 1 column 3"),
        "{}",
        out.stderr
    );
}
