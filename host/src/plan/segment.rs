//! k6 execution segments (`--execution-segment`, `--execution-segment-sequence`), ported from
//! k6 v1.1.0 `lib/execution_segment.go`.
//!
//! A segment is a `(from, to]` slice of `[0, 1]`, held as exact rationals ([`Ratio`]). A
//! sequence is a chain of points `0 = p0 < p1 < … < pn = 1`; without one, the segment is filled
//! to `0,from,to,1` (dropping empty ends). Work is split between the sequence's segments by
//! *striping*: with `lcd` the least common multiple of the denominators of the segment
//! lengths, every global index `i` is given to one segment by `i mod lcd`, in proportion to the
//! segment lengths and spread out as evenly as possible. An [`ExecutionTuple`] is one segment
//! within its (filled) sequence with that striping precomputed:
//!
//! * [`ExecutionTuple::scale`] (k6 `ScaleInt64`) is how many of the first `n` indexes the
//!   segment owns: exact, monotone in `n`, and the segments of a sequence add up to `n`;
//! * [`ExecutionTuple::owns`] / [`ExecutionTuple::nth_owned`] are the striped iterators k6 uses
//!   to share iterations and arrivals between instances;
//! * [`ExecutionTuple::for_value`] (k6 `GetNewExecutionTupleFromValue`) re-segments the
//!   sequence by how a VU count is split, which is what shared-iterations and the arrival-rate
//!   executors stripe their iterations with.

use std::cmp::Ordering;
use std::fmt;

/// The largest striping cycle (`lcd`) accepted for user-given segments and sequences.
///
/// Building a tuple costs `O(lcd × segments)` time and `O(lcd)` memory; k6 has no limit and
/// would just hang or run out of memory on something like `0:0.123456789`.
pub const MAX_LCD: u64 = 10_000_000;

/// Why an execution segment, sequence or value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    /// Not a percentage, decimal or fraction.
    #[error("'{input}' is not a valid percentage, decimal, fraction or interval value")]
    InvalidValue {
        /// The offending text.
        input: String,
    },
    /// A `%` value whose number is not an integer.
    #[error("'{input}' is not a valid percentage (an integer followed by '%')")]
    InvalidPercentage {
        /// The offending text.
        input: String,
    },
    /// A negative value.
    #[error("'{input}' is negative: execution segment values must be between 0 and 1")]
    Negative {
        /// The offending text.
        input: String,
    },
    /// A value whose exact numerator or denominator does not fit in 64 bits.
    #[error("'{input}' cannot be represented exactly (numerator or denominator too large)")]
    Overflow {
        /// The offending text or arithmetic.
        input: String,
    },
    /// A ratio with denominator 0.
    #[error("ratio {num}/0 has a zero denominator")]
    ZeroDenominator {
        /// Its numerator.
        num: u64,
    },
    /// A segment that is empty or reversed.
    #[error("execution segment '{input}': from ({from}) must be below to ({to})")]
    FromNotBelowTo {
        /// The segment as given.
        input: String,
        /// Its start.
        from: Ratio,
        /// Its end.
        to: Ratio,
    },
    /// A segment that ends after 1.
    #[error("execution segment '{input}': to ({to}) must not be above 1")]
    ToAboveOne {
        /// The segment as given.
        input: String,
        /// Its end.
        to: Ratio,
    },
    /// A sequence with fewer than 2 points.
    #[error("execution segment sequence '{input}': at least 2 points are needed, {points} given")]
    SequenceTooShort {
        /// The sequence as given.
        input: String,
        /// How many points it has.
        points: usize,
    },
    /// A sequence whose points are not strictly increasing.
    #[error(
        "execution segment sequence '{input}': point #{index} ({value}) must be above the \
         previous point ({previous})"
    )]
    SequenceNotIncreasing {
        /// The sequence as given.
        input: String,
        /// 0-based position of the offending point.
        index: usize,
        /// The point before it.
        previous: Ratio,
        /// The offending point.
        value: Ratio,
    },
    /// A sequence with a point above 1.
    #[error("execution segment sequence '{input}': point {value} must not be above 1")]
    SequenceAboveOne {
        /// The sequence as given.
        input: String,
        /// The offending point.
        value: Ratio,
    },
    /// The segment is not one of the (filled) sequence's segments.
    #[error("execution segment '{segment}' is not in execution segment sequence '{sequence}'")]
    SegmentNotInSequence {
        /// The segment.
        segment: String,
        /// The filled sequence.
        sequence: String,
    },
    /// The striping cycle would be too long (see [`MAX_LCD`]).
    #[error(
        "execution segment sequence '{sequence}': the least common denominator of the segment \
         lengths ({lcd}) is above the supported maximum {max}"
    )]
    LcdTooLarge {
        /// The filled sequence.
        sequence: String,
        /// The lcd (or a lower bound of it once it got too large).
        lcd: u128,
        /// The limit.
        max: u64,
    },
    /// Re-segmenting by a value of 0 (k6: "cannot generate new sequence for value 0").
    #[error("cannot re-segment execution segment '{segment}' for value 0")]
    ZeroValue {
        /// The segment.
        segment: String,
    },
    /// The segment gets none of `value` and so is absent from the re-segmented sequence.
    #[error(
        "execution segment '{segment}' gets none of {value} and is not in the re-segmented \
         sequence"
    )]
    EmptyForValue {
        /// The segment.
        segment: String,
        /// The value it was re-segmented by.
        value: u64,
    },
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// An exact non-negative rational, always reduced (`0` is `0/1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ratio {
    num: u64,
    den: u64,
}

impl Ratio {
    /// `num/den`, reduced; errors if `den` is 0.
    pub fn new(num: u64, den: u64) -> Result<Ratio, SegmentError> {
        if den == 0 {
            return Err(SegmentError::ZeroDenominator { num });
        }
        let g = gcd(u128::from(num), u128::from(den)) as u64;
        Ok(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    /// 0.
    pub fn zero() -> Ratio {
        Ratio { num: 0, den: 1 }
    }

    /// 1.
    pub fn one() -> Ratio {
        Ratio { num: 1, den: 1 }
    }

    /// The reduced numerator.
    pub fn numer(&self) -> u64 {
        self.num
    }

    /// The reduced denominator (never 0).
    pub fn denom(&self) -> u64 {
        self.den
    }

    /// Whether this is 0.
    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// Reduces `num/den` (den > 0) and returns it if both parts fit in 64 bits.
    fn from_u128(num: u128, den: u128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let g = gcd(num, den);
        let (num, den) = (num / g, den / g);
        Some(Ratio {
            num: u64::try_from(num).ok()?,
            den: u64::try_from(den).ok()?,
        })
    }

    /// `self + other`, or `None` if the exact result does not fit in 64-bit parts.
    pub fn checked_add(self, other: Ratio) -> Option<Ratio> {
        let num = u128::from(self.num) * u128::from(other.den)
            + u128::from(other.num) * u128::from(self.den);
        Ratio::from_u128(num, u128::from(self.den) * u128::from(other.den))
    }

    /// `self - other`, or `None` if negative or if the exact result does not fit.
    pub fn checked_sub(self, other: Ratio) -> Option<Ratio> {
        let a = u128::from(self.num) * u128::from(other.den);
        let b = u128::from(other.num) * u128::from(self.den);
        Ratio::from_u128(
            a.checked_sub(b)?,
            u128::from(self.den) * u128::from(other.den),
        )
    }

    /// Parses a percentage (`25%`, integer percentages only, as in k6), a decimal (`0.25`,
    /// `.5`, `1e-1`) or a fraction (`1/4`); integers (`1`) are decimals.
    ///
    /// Mirrors k6's `stringToRat` (Go `big.Int`/`big.Rat` `SetString`), except that Go's base
    /// prefixes in fractions (`0x10/32`, and octal for a leading `0` like `010/16`) and hex
    /// floats are not supported: fraction parts are plain decimal integers. No whitespace is
    /// trimmed. Negative values (other than `-0`) are an error.
    pub fn parse(s: &str) -> Result<Ratio, SegmentError> {
        if let Some(body) = s.strip_suffix('%') {
            let (neg, n) = parse_int(body, true).map_err(|e| match e {
                NumErr::Invalid => SegmentError::InvalidPercentage { input: s.into() },
                NumErr::Overflow => SegmentError::Overflow { input: s.into() },
            })?;
            return finish(s, neg, n, 100);
        }
        let invalid = |e: NumErr| match e {
            NumErr::Invalid => SegmentError::InvalidValue { input: s.into() },
            NumErr::Overflow => SegmentError::Overflow { input: s.into() },
        };
        if let Some((a, b)) = s.split_once('/') {
            let (neg, n) = parse_int(a, true).map_err(invalid)?;
            let (_, d) = parse_int(b, false).map_err(invalid)?;
            if d == 0 {
                return Err(SegmentError::InvalidValue { input: s.into() });
            }
            return finish(s, neg, n, d);
        }
        let (neg, n, d) = parse_decimal(s).map_err(invalid)?;
        finish(s, neg, n, d)
    }
}

/// Why a number could not be read.
enum NumErr {
    Invalid,
    Overflow,
}

/// Builds the parsed value `±n/d`, rejecting negatives and values too large for 64 bits.
fn finish(input: &str, neg: bool, n: u128, d: u128) -> Result<Ratio, SegmentError> {
    if neg && n != 0 {
        return Err(SegmentError::Negative {
            input: input.into(),
        });
    }
    Ratio::from_u128(n, d).ok_or_else(|| SegmentError::Overflow {
        input: input.into(),
    })
}

/// A decimal integer with an optional sign (if `signed`): `(negative, magnitude)`.
fn parse_int(s: &str, signed: bool) -> Result<(bool, u128), NumErr> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') if signed => (true, &s[1..]),
        Some(b'+') if signed => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumErr::Invalid);
    }
    let mut n: u128 = 0;
    for b in digits.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(b - b'0')))
            .ok_or(NumErr::Overflow)?;
    }
    Ok((neg, n))
}

/// `[+-]digits[.digits][(e|E)[+-]digits]` (at least one mantissa digit) as
/// `(negative, numerator, denominator)`.
fn parse_decimal(s: &str) -> Result<(bool, u128, u128), NumErr> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(at) => {
            let (eneg, emag) = parse_int(&rest[at + 1..], true)?;
            let emag = i64::try_from(emag).map_err(|_| NumErr::Overflow)?;
            (&rest[..at], if eneg { -emag } else { emag })
        }
        None => (rest, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(NumErr::Invalid);
    }
    let frac_part = frac_part.trim_end_matches('0');
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Ok((neg, 0, 1));
    }
    if digits.len() > 38 {
        return Err(NumErr::Overflow);
    }
    let (_, m) = parse_int(digits, false)?;
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| NumErr::Overflow)?;
    let e10 = exp.checked_sub(frac_len).ok_or(NumErr::Overflow)?;
    let pow = |e: i64| -> Result<u128, NumErr> {
        let e = u32::try_from(e).map_err(|_| NumErr::Overflow)?;
        10u128.checked_pow(e).ok_or(NumErr::Overflow)
    };
    if e10 >= 0 {
        let n = m.checked_mul(pow(e10)?).ok_or(NumErr::Overflow)?;
        Ok((neg, n, 1))
    } else {
        Ok((neg, m, pow(-e10)?))
    }
}

impl fmt::Display for Ratio {
    /// `n` for integers, `n/d` otherwise (Go's `RatString`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl Ord for Ratio {
    fn cmp(&self, other: &Self) -> Ordering {
        (u128::from(self.num) * u128::from(other.den))
            .cmp(&(u128::from(other.num) * u128::from(self.den)))
    }
}

impl PartialOrd for Ratio {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A `(from, to]` slice of the whole work, `0 <= from < to <= 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Exclusive start.
    pub from: Ratio,
    /// Inclusive end.
    pub to: Ratio,
}

impl Segment {
    /// `from:to`, checked like k6's `NewExecutionSegment` (`from < to <= 1`).
    pub fn new(from: Ratio, to: Ratio) -> Result<Segment, SegmentError> {
        let seg = Segment { from, to };
        seg.validate(&seg.to_string())?;
        Ok(seg)
    }

    /// The whole work, `0:1`.
    pub fn full() -> Segment {
        Segment {
            from: Ratio::zero(),
            to: Ratio::one(),
        }
    }

    /// Whether this is `0:1`.
    pub fn is_full(&self) -> bool {
        self.from.is_zero() && self.to == Ratio::one()
    }

    /// Parses `--execution-segment`: `from:to` (`1/3:2/3`, `0.2:2/3`, `50%:75%`), or a single
    /// value `to` meaning `0:to` (`1/3`, `0.3`, `10%`); the empty string is `0:1`.
    pub fn parse(s: &str) -> Result<Segment, SegmentError> {
        let (from, to) = match s.split_once(':') {
            Some((from, to)) => (Ratio::parse(from)?, Ratio::parse(to)?),
            None if s.is_empty() => (Ratio::zero(), Ratio::one()),
            None => (Ratio::zero(), Ratio::parse(s)?),
        };
        let seg = Segment { from, to };
        seg.validate(s)?;
        Ok(seg)
    }

    /// The segment's length `to - from` (`None` if it is reversed or not representable).
    pub fn length(&self) -> Option<Ratio> {
        self.to.checked_sub(self.from)
    }

    fn validate(&self, input: &str) -> Result<(), SegmentError> {
        if self.from >= self.to {
            return Err(SegmentError::FromNotBelowTo {
                input: input.into(),
                from: self.from,
                to: self.to,
            });
        }
        if self.to > Ratio::one() {
            return Err(SegmentError::ToAboveOne {
                input: input.into(),
                to: self.to,
            });
        }
        Ok(())
    }
}

impl fmt::Display for Segment {
    /// `from:to`, e.g. `0:1/3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.from, self.to)
    }
}

/// Parses `--execution-segment-sequence` (`0,1/3,2/3,1`, `0,25%,50%,1`, `0.5,0.7`) into its
/// points; the empty string is the empty sequence (no sequence). Checked like k6: at least 2
/// points, strictly increasing, within `[0, 1]`. Not filled to `0..1` (see
/// [`ExecutionTuple::new`]).
pub fn parse_sequence(s: &str) -> Result<Vec<Ratio>, SegmentError> {
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let points = s
        .split(',')
        .map(Ratio::parse)
        .collect::<Result<Vec<_>, _>>()?;
    validate_sequence(s, &points)?;
    Ok(points)
}

/// Formats sequence points as `p0,p1,…` (the `--execution-segment-sequence` form).
pub fn format_sequence(points: &[Ratio]) -> String {
    points
        .iter()
        .map(Ratio::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn validate_sequence(input: &str, points: &[Ratio]) -> Result<(), SegmentError> {
    if points.len() < 2 {
        return Err(SegmentError::SequenceTooShort {
            input: input.into(),
            points: points.len(),
        });
    }
    for (index, w) in points.windows(2).enumerate() {
        if w[0] >= w[1] {
            return Err(SegmentError::SequenceNotIncreasing {
                input: input.into(),
                index: index + 1,
                previous: w[0],
                value: w[1],
            });
        }
    }
    if let Some(&value) = points.iter().find(|p| **p > Ratio::one()) {
        return Err(SegmentError::SequenceAboveOne {
            input: input.into(),
            value,
        });
    }
    Ok(())
}

/// k6 `ExecutionSegmentSequence.LCD`: the least common multiple of the denominators of the
/// segment lengths of `points` (which must be strictly increasing).
fn sequence_lcd(points: &[Ratio], max_lcd: u64) -> Result<(u64, Vec<Ratio>), SegmentError> {
    let mut lengths = Vec::with_capacity(points.len().saturating_sub(1));
    for w in points.windows(2) {
        let len = w[1]
            .checked_sub(w[0])
            .ok_or_else(|| SegmentError::Overflow {
                input: format!("{} - {}", w[1], w[0]),
            })?;
        lengths.push(len);
    }
    let mut lcd: u128 = 1;
    for len in &lengths {
        let d = u128::from(len.den);
        lcd = lcd / gcd(lcd, d) * d;
        if lcd > u128::from(max_lcd) {
            return Err(SegmentError::LcdTooLarge {
                sequence: format_sequence(points),
                lcd,
                max: max_lcd,
            });
        }
    }
    // lcd <= max_lcd <= u64::MAX here.
    Ok((lcd as u64, lengths))
}

/// k6 `NewExecutionSegmentSequenceWrapper`'s striping: for a full sequence, the indexes in
/// `0..lcd` owned by each segment (ascending), and the lcd.
fn stripe(points: &[Ratio], max_lcd: u64) -> Result<(u64, Vec<Vec<u64>>), SegmentError> {
    let (lcd, lengths) = sequence_lcd(points, max_lcd)?;
    // Each length's numerator if its denominator were the lcd; they add up to lcd.
    let norm: Vec<u64> = lengths.iter().map(|l| l.num * (lcd / l.den)).collect();
    let mut order: Vec<usize> = (0..norm.len()).collect();
    order.sort_by(|&a, &b| norm[b].cmp(&norm[a])); // stable: biggest first, ties in order
    let mut owned: Vec<Vec<u64>> = norm
        .iter()
        .map(|&n| Vec::with_capacity(usize::try_from(n).unwrap_or(0)))
        .collect();
    let lcd128 = u128::from(lcd);
    for i in 0..lcd {
        let i128 = u128::from(i);
        for &seg in &order {
            let chosen = owned[seg].len() as u128;
            let num = chosen * lcd128;
            let denom = u128::from(norm[seg]);
            let q = num / denom;
            if i128 > q || (i128 == q && num.is_multiple_of(denom)) {
                owned[seg].push(i);
                break;
            }
        }
    }
    Ok((lcd, owned))
}

/// A segment within its sequence, with the striping precomputed (k6 `ExecutionTuple`).
///
/// Global indexes are 0-based; within every cycle of `lcd` indexes the segment owns the same
/// residues, starting at `start` and then stepping by `offsets` cyclically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionTuple {
    segment: Segment,
    /// The filled sequence's points (`0 … 1`).
    sequence: Vec<Ratio>,
    /// Which segment of `sequence` this is.
    index: usize,
    lcd: u64,
    start: u64,
    offsets: Vec<u64>,
    /// The owned residues in `0..lcd`, ascending (empty only for an empty tuple).
    positions: Vec<u64>,
}

impl ExecutionTuple {
    /// The tuple for `segment` (None = `0:1`) in `sequence` (None or empty = filled from the
    /// segment: `0,from,to,1` without empty ends). A given sequence is checked (at least 2
    /// points, strictly increasing, at most 1) and filled with `0` in front and `1` at the end
    /// if missing; the segment must then be exactly one of its segments (k6
    /// `FindSegmentPosition`), so e.g. segment None with sequence `0,1/2,1` is an error.
    pub fn new(
        segment: Option<Segment>,
        sequence: Option<Vec<Ratio>>,
    ) -> Result<ExecutionTuple, SegmentError> {
        let segment = segment.unwrap_or_else(Segment::full);
        segment.validate(&segment.to_string())?;
        let mut points = match sequence {
            Some(points) if !points.is_empty() => {
                validate_sequence(&format_sequence(&points), &points)?;
                points
            }
            _ if segment.is_full() => vec![Ratio::zero(), Ratio::one()],
            _ => vec![segment.from, segment.to],
        };
        if !points.first().is_some_and(Ratio::is_zero) {
            points.insert(0, Ratio::zero());
        }
        if points.last() != Some(&Ratio::one()) {
            points.push(Ratio::one());
        }
        ExecutionTuple::build(segment, points, MAX_LCD)
    }

    /// Builds the tuple for `segment` in the filled, valid sequence `points`.
    fn build(
        segment: Segment,
        points: Vec<Ratio>,
        max_lcd: u64,
    ) -> Result<ExecutionTuple, SegmentError> {
        let index = points
            .windows(2)
            .position(|w| w[0] == segment.from && w[1] == segment.to)
            .ok_or_else(|| SegmentError::SegmentNotInSequence {
                segment: segment.to_string(),
                sequence: format_sequence(&points),
            })?;
        let (lcd, mut owned) = stripe(&points, max_lcd)?;
        let positions = std::mem::take(&mut owned[index]);
        let (start, offsets) = offsets_of(&positions, lcd);
        Ok(ExecutionTuple {
            segment,
            sequence: points,
            index,
            lcd,
            start,
            offsets,
            positions,
        })
    }

    /// The whole work, `0:1` in `0,1`: owns every index, scales `n` to `n`.
    pub fn full() -> ExecutionTuple {
        ExecutionTuple {
            segment: Segment::full(),
            sequence: vec![Ratio::zero(), Ratio::one()],
            index: 0,
            lcd: 1,
            start: 0,
            offsets: vec![1],
            positions: vec![0],
        }
    }

    /// The segment.
    pub fn segment(&self) -> &Segment {
        &self.segment
    }

    /// The filled sequence's points, `0 … 1`.
    pub fn sequence(&self) -> &[Ratio] {
        &self.sequence
    }

    /// The segment's position in [`Self::sequence`] (0-based).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The striping cycle: least common multiple of the denominators of the segment lengths.
    pub fn lcd(&self) -> u64 {
        self.lcd
    }

    /// k6 `GetStripedOffsets`: `(start, offsets, lcd)`; the owned indexes are `start`,
    /// `start + offsets[0]`, `start + offsets[0] + offsets[1]`, … cycling through `offsets`
    /// (which add up to `lcd`). Empty `offsets` for an empty tuple.
    pub fn striped_offsets(&self) -> (u64, &[u64], u64) {
        (self.start, &self.offsets, self.lcd)
    }

    /// Whether this tuple owns no index at all (only from [`Self::for_value`] when the
    /// segment's share of the value is 0).
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// k6 `ScaleInt64`: this segment's share of `n`, i.e. how many of the global indexes
    /// `0..n` it owns. Exact, monotone in `n`, and the segments of a sequence add up to `n`.
    pub fn scale(&self, n: u64) -> u64 {
        let cycles = n / self.lcd;
        let rest = n % self.lcd;
        let partial = self.positions.partition_point(|&p| p < rest) as u64;
        cycles * self.positions.len() as u64 + partial
    }

    /// Whether global 0-based index `i` belongs to this segment's stripe.
    pub fn owns(&self, i: u64) -> bool {
        self.positions.binary_search(&(i % self.lcd)).is_ok()
    }

    /// The `k`-th (0-based) global index owned by this segment (k6's striped `SegmentedIndex`,
    /// minus one); `u64::MAX` for an empty tuple or if it would overflow.
    pub fn nth_owned(&self, k: u64) -> u64 {
        let per_cycle = self.positions.len() as u64;
        if per_cycle == 0 {
            return u64::MAX;
        }
        let pos = self.positions[(k % per_cycle) as usize];
        (k / per_cycle)
            .checked_mul(self.lcd)
            .and_then(|base| base.checked_add(pos))
            .unwrap_or(u64::MAX)
    }

    /// k6 `GetNewExecutionTupleFromValue(value)`: the tuple to stripe iterations or arrivals
    /// with when the executor has `value` VUs in total (shared-iterations: `vus`;
    /// arrival-rate: `maxVUs`).
    ///
    /// Every segment of the sequence is replaced by its share of `value`
    /// (`prev/value : (prev + scale(value))/value`), segments with no share are dropped, and the
    /// result is this segment's counterpart: its `segment()`, `sequence()`, `index()` and
    /// striping differ from `self` (e.g. thirds with 2 VUs: `1/3:2/3` becomes `1/2:1` in
    /// `0,1/2,1`). If `value` is a multiple of `lcd`, `self` is returned unchanged. When k6
    /// would fail (`value == 0`, or this segment gets none of `value`; such an instance has no
    /// work for the executor) this returns an empty tuple that owns nothing and scales
    /// everything to 0; [`Self::try_for_value`] returns k6's error instead.
    pub fn for_value(&self, value: u64) -> ExecutionTuple {
        self.try_for_value(value)
            .unwrap_or_else(|_| ExecutionTuple {
                segment: self.segment.clone(),
                sequence: self.sequence.clone(),
                index: self.index,
                lcd: self.lcd,
                start: 0,
                offsets: Vec::new(),
                positions: Vec::new(),
            })
    }

    /// [`Self::for_value`], with k6's errors: `value == 0`, or this segment's share of `value`
    /// is 0 (it is then not part of the new sequence).
    pub fn try_for_value(&self, value: u64) -> Result<ExecutionTuple, SegmentError> {
        if value == 0 {
            return Err(SegmentError::ZeroValue {
                segment: self.segment.to_string(),
            });
        }
        if self.is_empty() {
            return Err(SegmentError::EmptyForValue {
                segment: self.segment.to_string(),
                value,
            });
        }
        if value.is_multiple_of(self.lcd) {
            return Ok(self.clone());
        }
        // The striping already succeeded for this sequence in `new`, so no limit is needed.
        let (lcd, owned) = stripe(&self.sequence, u64::MAX)?;
        let mut points = vec![Ratio::zero()];
        let mut new_segment = None;
        let mut prev = 0u64;
        for (i, positions) in owned.iter().enumerate() {
            let share = scale_positions(positions, lcd, value);
            if share == 0 {
                continue;
            }
            let from = Ratio::new(prev, value)?;
            prev += share;
            let to = Ratio::new(prev, value)?;
            if i == self.index {
                new_segment = Some(Segment { from, to });
            }
            points.push(to);
        }
        let segment = new_segment.ok_or_else(|| SegmentError::EmptyForValue {
            segment: self.segment.to_string(),
            value,
        })?;
        // The new lcd divides `value`, so it is bounded by the value itself.
        ExecutionTuple::build(segment, points, u64::MAX)
    }
}

/// How many of `positions` (owned residues mod `lcd`) are below `n`.
fn scale_positions(positions: &[u64], lcd: u64, n: u64) -> u64 {
    (n / lcd) * positions.len() as u64 + positions.partition_point(|&p| p < n % lcd) as u64
}

/// k6's `(start, offsets)` form of ascending owned residues.
fn offsets_of(positions: &[u64], lcd: u64) -> (u64, Vec<u64>) {
    match (positions.first(), positions.last()) {
        (Some(&first), Some(&last)) => {
            let mut offsets: Vec<u64> = positions.windows(2).map(|w| w[1] - w[0]).collect();
            offsets.push(first + lcd - last);
            (first, offsets)
        }
        _ => (0, Vec::new()),
    }
}

impl fmt::Display for ExecutionTuple {
    /// `segment in sequence`, e.g. `0:1/3 in 0,1/3,1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.segment, format_sequence(&self.sequence))
    }
}

#[cfg(test)]
mod tests {
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
}
