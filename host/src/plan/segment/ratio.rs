//! Exact non-negative rationals with 64-bit parts, as segments and sequences are given: parsed
//! from percentages, decimals and fractions as k6 reads them, compared and added exactly.

use std::cmp::Ordering;
use std::fmt;

use super::SegmentError;

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

/// The greatest common divisor (`gcd(0, 0)` is 0).
pub(super) fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}
