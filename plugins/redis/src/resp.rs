//! RESP2, the Redis protocol: commands encoded as arrays of bulk strings, replies parsed
//! incrementally from whatever bytes have arrived so far.

use std::fmt;

/// Longest bulk string accepted in a reply (Redis's own limit is 512 MB).
const MAX_BULK: usize = 64 << 20;
/// Deepest nesting of arrays accepted in a reply.
const MAX_DEPTH: usize = 32;

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`: the command failed.
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc` (`None`: the null bulk string `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...` (`None`: the null array `*-1`).
    Array(Option<Vec<Value>>),
}

/// A reply that is not valid RESP2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid RESP reply: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Appends the command `args` (name first) to `out` as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Parses one reply from the start of `buf`: the value and how many bytes it took, or `None`
/// when `buf` holds only part of it so far.
pub fn parse(buf: &[u8]) -> Result<Option<(Value, usize)>, ProtocolError> {
    parse_at(buf, 0)
}

fn parse_at(buf: &[u8], depth: usize) -> Result<Option<(Value, usize)>, ProtocolError> {
    let Some(end) = find_crlf(buf) else {
        return Ok(None);
    };
    let Some((&kind, line)) = buf[..end].split_first() else {
        return Err(ProtocolError("empty line".into()));
    };
    let after = end + 2;
    let text = || {
        std::str::from_utf8(line)
            .map(str::to_string)
            .map_err(|_| ProtocolError("line is not UTF-8".into()))
    };
    let value = match kind {
        b'+' => Value::Simple(text()?),
        b'-' => Value::Error(text()?),
        b':' => Value::Integer(integer(line)?),
        b'$' => {
            let len = integer(line)?;
            if len == -1 {
                return Ok(Some((Value::Bulk(None), after)));
            }
            let len = length(len, MAX_BULK)?;
            let Some(rest) = buf.get(after..after + len + 2) else {
                return Ok(None);
            };
            if &rest[len..] != b"\r\n" {
                return Err(ProtocolError("bulk string not followed by CRLF".into()));
            }
            return Ok(Some((
                Value::Bulk(Some(rest[..len].to_vec())),
                after + len + 2,
            )));
        }
        b'*' => {
            let len = integer(line)?;
            if len == -1 {
                return Ok(Some((Value::Array(None), after)));
            }
            if depth >= MAX_DEPTH {
                return Err(ProtocolError(format!(
                    "arrays nested deeper than {MAX_DEPTH}"
                )));
            }
            // Each element takes at least 3 bytes: never trust the count for the allocation.
            let len = length(len, usize::MAX)?;
            let mut items = Vec::with_capacity(len.min(buf.len() / 3));
            let mut at = after;
            for _ in 0..len {
                match parse_at(&buf[at..], depth + 1)? {
                    Some((v, n)) => {
                        items.push(v);
                        at += n;
                    }
                    None => return Ok(None),
                }
            }
            return Ok(Some((Value::Array(Some(items)), at)));
        }
        other => {
            return Err(ProtocolError(format!(
                "unknown type byte {:?}",
                char::from(other)
            )))
        }
    };
    Ok(Some((value, after)))
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn integer(line: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ProtocolError(format!("bad integer {:?}", String::from_utf8_lossy(line))))
}

fn length(n: i64, max: usize) -> Result<usize, ProtocolError> {
    usize::try_from(n)
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| ProtocolError(format!("bad length {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::Bulk(Some(s.as_bytes().to_vec()))
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        let mut out = Vec::new();
        encode(&[b"SET", b"k", b"caf\xc3\xa9"], &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\ncaf\xc3\xa9\r\n");
        out.clear();
        encode(&[b"GET", b""], &mut out);
        assert_eq!(out, b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n");
    }

    #[test]
    fn every_reply_type_parses_with_its_length() {
        let cases: &[(&[u8], Value)] = &[
            (b"+OK\r\n", Value::Simple("OK".into())),
            (
                b"-WRONGTYPE Operation against a key\r\n",
                Value::Error("WRONGTYPE Operation against a key".into()),
            ),
            (b":-42\r\n", Value::Integer(-42)),
            (b"$5\r\nhe\r\no\r\n", bulk("he\r\no")),
            (b"$0\r\n\r\n", bulk("")),
            (b"$-1\r\n", Value::Bulk(None)),
            (b"*-1\r\n", Value::Array(None)),
            (b"*0\r\n", Value::Array(Some(vec![]))),
            (
                b"*3\r\n$1\r\na\r\n:1\r\n*1\r\n+x\r\n",
                Value::Array(Some(vec![
                    bulk("a"),
                    Value::Integer(1),
                    Value::Array(Some(vec![Value::Simple("x".into())])),
                ])),
            ),
        ];
        for (bytes, want) in cases {
            let mut buf = bytes.to_vec();
            buf.extend_from_slice(b"+NEXT\r\n");
            assert_eq!(
                parse(&buf),
                Ok(Some((want.clone(), bytes.len()))),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn partial_replies_wait_for_more_bytes() {
        let whole = b"*2\r\n$5\r\nhello\r\n:7\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(whole).unwrap().is_some());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"\r\n"[..],
            b"?what\r\n",
            b":12x\r\n",
            b"$-2\r\n",
            b"$3\r\nabcd\r\n",
            b"*-5\r\n",
            b"$99999999999\r\n",
            b"+\xff\r\n",
        ] {
            assert!(
                parse(bad).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 1) + ":1\r\n";
        assert!(parse(deep.as_bytes()).is_err());
        // A huge announced array with nothing behind it allocates nothing much.
        assert_eq!(parse(b"*4000000000\r\n"), Ok(None));
    }
}
