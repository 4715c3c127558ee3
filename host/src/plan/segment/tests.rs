//! Execution segment tests: parsing, sequences, striping and re-segmenting against k6's results.

use super::*;

fn r(s: &str) -> Ratio {
    Ratio::parse(s).unwrap()
}

fn seg(s: &str) -> Segment {
    Segment::parse(s).unwrap()
}

fn tuple(seg_s: &str, seq_s: &str) -> ExecutionTuple {
    let segment = if seg_s.is_empty() {
        None
    } else {
        Some(seg(seg_s))
    };
    let sequence = if seq_s.is_empty() {
        None
    } else {
        Some(parse_sequence(seq_s).unwrap())
    };
    ExecutionTuple::new(segment, sequence).unwrap()
}

/// All tuples of a full sequence.
fn all_tuples(seq_s: &str) -> Vec<ExecutionTuple> {
    let points = parse_sequence(seq_s).unwrap();
    points
        .windows(2)
        .map(|w| {
            ExecutionTuple::new(
                Some(Segment::new(w[0], w[1]).unwrap()),
                Some(points.clone()),
            )
            .unwrap()
        })
        .collect()
}

/// Tiny deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// k6 `generateRandomSequence`: `n` segments with numerators `1..=m` over their sum.
fn random_sequence(rng: &mut Rng, n: u64, m: u64) -> String {
    let nums: Vec<u64> = (0..n).map(|_| 1 + rng.below(m)).collect();
    let den: u64 = nums.iter().sum();
    let mut acc = 0;
    let mut points = vec![Ratio::zero()];
    for n in nums {
        acc += n;
        points.push(Ratio::new(acc, den).unwrap());
    }
    format_sequence(&points)
}

#[test]
fn ratio_parse_and_display() {
    let ok = [
        ("1/3", "1/3"),
        ("2/4", "1/2"),
        ("0.25", "1/4"),
        ("25%", "1/4"),
        ("+25%", "1/4"),
        ("1", "1"),
        ("0", "0"),
        ("1.0", "1"),
        ("0.5000000000000000000000000000000000000000000", "1/2"),
        (".5", "1/2"),
        ("5.", "5"),
        ("1e-1", "1/10"),
        ("25E-2", "1/4"),
        ("0.3e1", "3"),
        ("-0", "0"),
        ("-0%", "0"),
        ("0/7", "0"),
        ("125%", "5/4"),
    ];
    for (input, want) in ok {
        assert_eq!(r(input).to_string(), want, "{input}");
    }
    for bad in [
        "", "a", "1a5", "1.2.3", ".", "1/", "/2", "1/0", "1/-2", "1 ", " 1", "e5",
    ] {
        assert!(
            matches!(Ratio::parse(bad), Err(SegmentError::InvalidValue { .. })),
            "{bad}"
        );
    }
    for bad in ["1a5%", "12.5%", "%", "1/2%"] {
        assert!(
            matches!(
                Ratio::parse(bad),
                Err(SegmentError::InvalidPercentage { .. })
            ),
            "{bad}"
        );
    }
    for bad in ["-1/2", "-0.5", "-5%"] {
        assert!(
            matches!(Ratio::parse(bad), Err(SegmentError::Negative { .. })),
            "{bad}"
        );
    }
    for bad in ["0.123456789012345678901234", "1/99999999999999999999999999"] {
        assert!(
            matches!(Ratio::parse(bad), Err(SegmentError::Overflow { .. })),
            "{bad}"
        );
    }
    assert_eq!(Ratio::new(6, 4).unwrap(), Ratio::new(3, 2).unwrap());
    assert_eq!(Ratio::new(0, 5).unwrap(), Ratio::zero());
    assert!(Ratio::new(1, 0).is_err());
    assert!(r("1/3") < r("0.34") && r("0.34") < r("35%"));
    assert_eq!(r("1/3").checked_add(r("2/3")), Some(Ratio::one()));
    assert_eq!(r("1/3").checked_sub(r("1/2")), None);
}

/// k6 TestExecutionSegmentNew.
#[test]
fn segment_new() {
    assert!(Segment::new(r("2"), Ratio::one()).is_err());
    assert!(Segment::new(Ratio::zero(), r("2")).is_err());
    assert!(Segment::new(r("1/2"), r("1/3")).is_err());
    assert!(Segment::new(r("1/2"), r("1/2")).is_err());
    assert_eq!(
        Segment::new(Ratio::zero(), Ratio::one()).unwrap(),
        Segment::full()
    );
}

/// k6 TestExecutionSegmentUnmarshalText, plus the forms from our notes.
#[test]
fn segment_parse() {
    let ok = [
        ("0:1", "0:1"),
        ("", "0:1"),
        ("0.5:0.75", "1/2:3/4"),
        ("1/2:3/4", "1/2:3/4"),
        ("50%:75%", "1/2:3/4"),
        ("2/4:75%", "1/2:3/4"),
        ("75%", "0:3/4"),
        ("1/3", "0:1/3"),
        ("0:1/3", "0:1/3"),
        ("1/3:2/3", "1/3:2/3"),
        ("10%", "0:1/10"),
        ("0.2:2/3", "1/5:2/3"),
        ("0.3", "0:3/10"),
        ("0.5:1.0", "1/2:1"),
    ];
    for (input, want) in ok {
        let s = seg(input);
        assert_eq!(s.to_string(), want, "{input}");
        // Round trip.
        assert_eq!(seg(&s.to_string()), s, "{input}");
    }
    for bad in [
        "125%",
        "1a5%",
        "1a5",
        "1a5%:2/3",
        "125%:250%",
        "55%:50%",
        "0",
        "0:0",
        "1:1",
        "-0.1:0.5",
        "0:1:1",
        ":",
        "1/3:",
    ] {
        assert!(Segment::parse(bad).is_err(), "{bad}");
    }
    let err = Segment::parse("2/3:1/3").unwrap_err();
    assert_eq!(
        err.to_string(),
        "execution segment '2/3:1/3': from (2/3) must be below to (1/3)"
    );
    let err = Segment::parse("125%").unwrap_err();
    assert_eq!(
        err.to_string(),
        "execution segment '125%': to (5/4) must not be above 1"
    );
    assert!(Segment::parse("1a5")
        .unwrap_err()
        .to_string()
        .contains("'1a5'"));
}

/// k6 TestExecutionSegmentStringSequences.
#[test]
fn sequence_parse() {
    for bad in [
        "0.5", "1,1", "-0.5,1", "1/2,1/2", "1/2,1/3", "0,1,1/2", "0,2", "0,,1",
    ] {
        assert!(parse_sequence(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_sequence("").unwrap(), Vec::new());
    let cases: [(&str, &str, bool); 10] = [
        ("0.5,1", "1/2,1", false),
        ("1/2,1", "1/2,1", true),
        ("1/3,2/3", "1/3,2/3", true),
        ("0,1/3,2/3", "0,1/3,2/3", true),
        ("0,1/3,2/3,1", "0,1/3,2/3,1", true),
        ("0.5,0.7", "1/2,7/10", false),
        ("0.5,0.7,1", "1/2,7/10,1", false),
        (
            "0,1/13,2/13,1/3,1/2,3/4,1",
            "0,1/13,2/13,1/3,1/2,3/4,1",
            true,
        ),
        ("0,25%,50%,1", "0,1/4,1/2,1", false),
        ("0,0.3,0.5,0.6,1", "0,3/10,1/2,3/5,1", false),
    ];
    for (input, want, can_reverse) in cases {
        let got = format_sequence(&parse_sequence(input).unwrap());
        assert_eq!(got, want, "{input}");
        assert_eq!(got == input, can_reverse, "{input}");
    }
    let err = parse_sequence("0,1/2,1/3").unwrap_err();
    assert!(err.to_string().contains("'0,1/2,1/3'"), "{err}");
}

/// k6 TestSequenceLCD.
#[test]
fn sequence_lcd_table() {
    for (seq, want) in [
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", 10),
        ("0,0.1,0.5,0.6,0.7,0.8,0.9,1", 10),
        ("0,0.2,0.5,0.6,0.7,0.8,0.9,1", 10),
        ("0,1/3,5/6", 6),
        ("0,1/3,4/7", 21),
    ] {
        let points = parse_sequence(seq).unwrap();
        assert_eq!(sequence_lcd(&points, MAX_LCD).unwrap().0, want, "{seq}");
    }
}

/// k6 TestGetStripedOffsets.
#[test]
fn striped_offsets() {
    let cases: &[(&str, &str, u64, &[u64], u64)] = &[
        // full sequences
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0:0.3", 0, &[4, 3, 3], 10),
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.3:0.5", 1, &[4, 6], 10),
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.5:0.6", 2, &[10], 10),
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.6:0.7", 3, &[10], 10),
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.8:0.9", 8, &[10], 10),
        ("0,0.3,0.5,0.6,0.7,0.8,0.9,1", "0.9:1", 9, &[10], 10),
        ("0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0.9:1", 9, &[10], 10),
        ("0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0:0.2", 1, &[4, 6], 10),
        ("0,0.2,0.5,0.6,0.7,0.8,0.9,1", "0.6:0.7", 3, &[10], 10),
        // not full sequences
        ("0,0.2,0.5", "0:0.2", 3, &[6, 4], 10),
        ("0,0.2,0.5", "0.2:0.5", 1, &[4, 2, 4], 10),
        ("0,2/5,4/5", "0:2/5", 0, &[3, 2], 5),
        ("0,2/5,4/5", "2/5:4/5", 1, &[3, 2], 5),
        // no sequence
        ("", "0:0.2", 1, &[5], 5),
        ("", "0:1/5", 1, &[5], 5),
        ("", "0:2/10", 1, &[5], 5),
        ("", "0:0.4", 1, &[2, 3], 5),
        ("", "0:2/5", 1, &[2, 3], 5),
        ("", "2/5:4/5", 1, &[3, 2], 5),
        ("", "0:4/10", 1, &[2, 3], 5),
        ("", "1/10:5/10", 1, &[2, 2, 4, 2], 10),
    ];
    for &(seq_s, seg_s, start, offsets, lcd) in cases {
        let et = tuple(seg_s, seq_s);
        assert_eq!(
            et.striped_offsets(),
            (start, offsets, lcd),
            "seq {seq_s} seg {seg_s}"
        );
        assert_eq!(et.lcd(), lcd);
    }
}

#[test]
fn filling_and_lookup() {
    let et = tuple("0:1/3", "");
    assert_eq!(format_sequence(et.sequence()), "0,1/3,1");
    assert_eq!(et.index(), 0);
    assert_eq!(et.to_string(), "0:1/3 in 0,1/3,1");
    let et = tuple("1/3:2/3", "");
    assert_eq!(format_sequence(et.sequence()), "0,1/3,2/3,1");
    assert_eq!(et.index(), 1);
    let et = tuple("", "");
    assert_eq!(format_sequence(et.sequence()), "0,1");
    assert_eq!(et, ExecutionTuple::full());
    assert_eq!(tuple("0:1", "0,1"), ExecutionTuple::full());
    assert_eq!(tuple("0.5:0.7", "0.5,0.7").sequence().len(), 4);

    let err = |seg_s: Option<&str>, seq_s: &str| {
        ExecutionTuple::new(seg_s.map(seg), Some(parse_sequence(seq_s).unwrap())).unwrap_err()
    };
    assert!(matches!(
        err(Some("0:2/3"), "0,1/3,2/3,1"),
        SegmentError::SegmentNotInSequence { .. }
    ));
    assert!(matches!(
        err(None, "0,1/2,1"),
        SegmentError::SegmentNotInSequence { .. }
    ));
    assert_eq!(
        err(Some("1/3:1/2"), "0,1/3,2/3,1").to_string(),
        "execution segment '1/3:1/2' is not in execution segment sequence '0,1/3,2/3,1'"
    );
    // Unchecked inputs are checked by `new` too.
    let bad_seq = vec![r("1/2"), r("1/3")];
    assert!(ExecutionTuple::new(None, Some(bad_seq)).is_err());
    assert!(ExecutionTuple::new(None, Some(vec![r("1/2")])).is_err());
    assert!(ExecutionTuple::new(None, Some(vec![r("1/2"), r("3/2")])).is_err());
    let reversed = Segment {
        from: r("2/3"),
        to: r("1/3"),
    };
    assert!(ExecutionTuple::new(Some(reversed), None).is_err());
    // Absurdly fine segments are refused instead of hanging.
    assert!(matches!(
        ExecutionTuple::new(Some(seg("0:0.123456789")), None),
        Err(SegmentError::LcdTooLarge { .. })
    ));
}

/// k6 TestExecutionTupleScale and TestBigScale.
#[test]
fn tuple_scale() {
    for seq_s in ["", "0,0.5,1"] {
        let et = tuple("0.5", seq_s);
        assert_eq!((et.scale(2), et.scale(3)), (1, 2));
        let et = tuple("0.5:1.0", seq_s);
        assert_eq!((et.scale(2), et.scale(3)), (1, 1));
    }
    assert_eq!(tuple("0:7/20", "0,7/20,7/10,1").scale(50), 18);
}

#[test]
fn thirds() {
    let ts = all_tuples("0,1/3,2/3,1");
    let at = |n| ts.iter().map(|t| t.scale(n)).collect::<Vec<_>>();
    assert_eq!(at(50), [17, 17, 16]);
    assert_eq!(at(1), [1, 0, 0]);
    assert_eq!(at(2), [1, 1, 0]);
    assert_eq!(at(3), [1, 1, 1]);
    assert_eq!(at(0), [0, 0, 0]);
}

/// k6 TestNewExecutionTuple (scale before and after GetNewExecutionTupleFromValue).
#[test]
fn new_execution_tuple_table() {
    type Scales = &'static [(u64, u64)];
    type NewScales = &'static [(u64, Option<Scales>)];
    let full_new: NewScales = &[
        (50, Some(&[(50, 50), (1, 1), (0, 0)])),
        (1, Some(&[(50, 50), (1, 1), (0, 0)])),
        (0, None),
    ];
    let full_scale: Scales = &[(50, 50), (1, 1), (0, 0)];
    let cases: &[(&str, &str, Scales, NewScales)] = &[
        ("", "", full_scale, full_new),
        ("0:1", "", full_scale, full_new),
        ("0:1", "0,1", full_scale, full_new),
        (
            "0:1/3",
            "0,1/3,2/3,1",
            &[(50, 17), (3, 1), (2, 1), (1, 1), (0, 0)],
            &[
                (50, Some(&[(50, 17), (1, 1), (0, 0)])),
                (20, Some(&[(50, 18), (1, 1), (0, 0)])),
                (3, Some(&[(50, 17), (1, 1), (0, 0)])),
                (2, Some(&[(50, 25), (1, 1), (0, 0)])),
                (1, Some(&[(50, 50), (1, 1), (0, 0)])),
                (0, None),
            ],
        ),
        (
            "1/3:2/3",
            "0,1/3,2/3,1",
            &[(50, 17), (3, 1), (2, 1), (1, 0), (0, 0)],
            &[
                (50, Some(&[(50, 17), (1, 0), (0, 0)])),
                (20, Some(&[(50, 17), (1, 0), (0, 0)])),
                (3, Some(&[(50, 17), (1, 0), (0, 0)])),
                (2, Some(&[(50, 25), (1, 0), (0, 0)])),
                (1, None),
                (0, None),
            ],
        ),
        (
            "2/3:1",
            "0,1/3,2/3,1",
            &[(50, 16), (3, 1), (2, 0), (1, 0), (0, 0)],
            &[
                (50, Some(&[(50, 16), (1, 0), (0, 0)])),
                (20, Some(&[(50, 15), (1, 0), (0, 0)])),
                (3, Some(&[(50, 16), (1, 0), (0, 0)])),
                (2, None),
                (1, None),
                (0, None),
            ],
        ),
    ];
    for &(seg_s, seq_s, scales, new_scales) in cases {
        let et = tuple(seg_s, seq_s);
        for &(n, want) in scales {
            assert_eq!(et.scale(n), want, "{seg_s} in {seq_s}: scale({n})");
        }
        for &(value, want) in new_scales {
            let got = et.try_for_value(value);
            let lenient = et.for_value(value);
            match want {
                None => {
                    assert!(got.is_err(), "{seg_s} in {seq_s}: for_value({value})");
                    assert!(lenient.is_empty());
                    assert_eq!(lenient.scale(50), 0);
                    assert!(!lenient.owns(0));
                    assert_eq!(lenient.nth_owned(0), u64::MAX);
                }
                Some(scales) => {
                    let new = got.unwrap();
                    assert_eq!(new, lenient);
                    for &(n, want) in scales {
                        assert_eq!(
                            new.scale(n),
                            want,
                            "{seg_s} in {seq_s}: for_value({value}).scale({n})"
                        );
                    }
                }
            }
        }
    }
}

/// k6 TestGetNewExecutionTupleBesedOnValue.
#[test]
fn for_value_sequence() {
    let new = tuple("0:1/3", "0,1/3,2/3,1").for_value(20);
    assert_eq!(format_sequence(new.sequence()), "0,7/20,7/10,1");
    assert_eq!(new.segment().to_string(), "0:7/20");
    // Thirds with 2 VUs: the middle third becomes the second half.
    let new = tuple("1/3:2/3", "0,1/3,2/3,1").for_value(2);
    assert_eq!(new.to_string(), "1/2:1 in 0,1/2,1");
    assert_eq!(new.index(), 1);
    // A multiple of the lcd keeps the tuple.
    let et = tuple("1/3:2/3", "0,1/3,2/3,1");
    assert_eq!(et.for_value(6), et);
}

/// Our notes' example: 50 shared iterations on 5 VUs split 1/4, 1/2, 1/4.
#[test]
fn shared_iterations_example() {
    let ts = all_tuples("0,1/4,3/4,1");
    assert_eq!(ts.iter().map(|t| t.scale(5)).collect::<Vec<_>>(), [1, 3, 1]);
    let ids: Vec<Vec<u64>> = ts
        .iter()
        .map(|t| {
            let t = t.for_value(5);
            (0..)
                .map(|k| t.nth_owned(k))
                .take_while(|&i| i < 50)
                .collect()
        })
        .collect();
    assert_eq!(ids[0], (0..10).map(|k| 1 + 5 * k).collect::<Vec<_>>());
    assert_eq!(ids[2], (0..10).map(|k| 3 + 5 * k).collect::<Vec<_>>());
    assert_eq!(&ids[1][..8], &[0, 2, 4, 5, 7, 9, 10, 12]);
    assert_eq!(ids[1].len(), 30);
    let mut all: Vec<u64> = ids.concat();
    all.sort_unstable();
    assert_eq!(all, (0..50).collect::<Vec<_>>());
    for (t, ids) in ts.iter().zip(&ids) {
        let t = t.for_value(5);
        assert_eq!(t.scale(50), ids.len() as u64);
        for i in 0..50 {
            assert_eq!(t.owns(i), ids.contains(&i));
        }
    }
}

#[test]
fn full_owns_everything() {
    for et in [ExecutionTuple::full(), tuple("", ""), tuple("0:1", "0,1")] {
        for n in [0, 1, 2, 3, 7, 50, 1000, u64::MAX] {
            assert_eq!(et.scale(n), n);
            assert!(et.owns(n));
            assert_eq!(et.nth_owned(n), n);
        }
        assert_eq!(et.for_value(7), et);
        assert_eq!(et.striped_offsets(), (0, &[1u64][..], 1));
    }
}

/// Sums, monotonicity and striping consistency for several sequences (k6
/// TestExecutionTupleScaleConsistency and TestExecutionSegmentScaleNoWobble, deterministic).
#[test]
fn scale_consistency() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut seqs: Vec<String> = [
        "0,1",
        "0,1/3,2/3,1",
        "0,1/4,3/4,1",
        "0,0.3,0.5,0.6,0.7,0.8,0.9,1",
        "0,1/13,2/13,1/3,1/2,3/4,1",
        "0,1/7,4/7,1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..10 {
        let n = rng.below(9) + 2;
        seqs.push(random_sequence(&mut rng, n, 100));
    }
    for seq_s in &seqs {
        let ts = all_tuples(seq_s);
        let lcd = ts[0].lcd();
        let mut last = vec![0; ts.len()];
        for n in 0..(3 * lcd).min(2000) + 5 {
            let scales: Vec<u64> = ts.iter().map(|t| t.scale(n)).collect();
            assert_eq!(scales.iter().sum::<u64>(), n, "{seq_s} n={n}");
            for (s, l) in scales.iter().zip(&last) {
                assert!(s >= l, "{seq_s} n={n}: not monotone");
            }
            last = scales;
            // Every index has exactly one owner.
            assert_eq!(ts.iter().filter(|t| t.owns(n)).count(), 1, "{seq_s} i={n}");
        }
        for t in &ts {
            let (start, offsets, lcd) = t.striped_offsets();
            assert_eq!(offsets.iter().sum::<u64>(), lcd);
            assert_eq!(t.nth_owned(0), start);
            let mut prev = None;
            for k in 0..(2 * offsets.len() as u64 + 3) {
                let i = t.nth_owned(k);
                assert!(t.owns(i));
                assert_eq!(t.scale(i), k);
                if let Some(p) = prev {
                    assert_eq!(i - p, offsets[(k as usize - 1) % offsets.len()]);
                }
                prev = Some(i);
            }
            // Large values: closed form agrees with whole cycles.
            let big = 1_000_000_007u64;
            assert_eq!(
                t.scale(big),
                (big / lcd) * offsets.len() as u64 + t.scale(big % lcd)
            );
        }
        // for_value re-segments into a full sequence whose shares are the old scales.
        for value in [1u64, 2, 3, 5, 7, 20, 101] {
            let mut prev_to = Ratio::zero();
            for t in &ts {
                let share = t.scale(value);
                match t.try_for_value(value) {
                    Ok(new) => {
                        assert!(share > 0);
                        assert_eq!(new.segment().from, prev_to);
                        assert_eq!(new.scale(value), share, "{seq_s} value={value}");
                        prev_to = new.segment().to;
                    }
                    Err(_) => assert_eq!(share, 0),
                }
            }
            assert_eq!(prev_to, Ratio::one());
        }
    }
}

proptest::proptest! {
    /// No segment or sequence text panics, and what parses can be used to split a test.
    #[test]
    fn no_segment_input_panics(
        seg in "[0-9/:.%, -]{0,24}",
        seq in "[0-9/,. ]{0,32}",
        n in 0u32..1_000_000,
    ) {
        let segment = Segment::parse(&seg).ok();
        let sequence = parse_sequence(&seq).ok();
        if let Ok(tuple) = ExecutionTuple::new(segment, sequence) {
            let _ = tuple.segment().length();
            let _ = tuple.scale(u64::from(n));
        }
    }

    #[test]
    fn no_ratio_panics(a in proptest::num::u64::ANY, b in proptest::num::u64::ANY) {
        let _ = Ratio::parse(&format!("{a}/{b}"));
        let _ = Ratio::parse(&format!("0.{a}"));
        let _ = Segment::parse(&format!("{a}/{b}:{b}/{a}"));
    }
}
