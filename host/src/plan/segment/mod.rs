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

mod ratio;

use std::fmt;

use ratio::gcd;
pub use ratio::Ratio;

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
        let d = u128::from(len.denom());
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
    let norm: Vec<u64> = lengths
        .iter()
        .map(|l| l.numer() * (lcd / l.denom()))
        .collect();
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
mod tests;
