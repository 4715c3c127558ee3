//! InfluxDB v1 line protocol, as k6's InfluxDB output writes it: measurement = metric name, the
//! sample's tags as tags (sorted, empty values left out), field `value`, tags listed in
//! `tagsAsFields` as typed fields, and the timestamp.

use std::fmt::Write as _;

/// The type a tag listed in `tagsAsFields` is written as (k6's `name:type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A quoted string (the default).
    String,
    /// An integer (`123i`); a value that does not parse stays a string, as in k6.
    Int,
    /// A float.
    Float,
    /// A boolean.
    Bool,
}

impl FieldKind {
    /// Parses `name` or `name:type` (`string`, `int`, `float`, `bool`).
    pub fn parse(spec: &str) -> Option<(String, FieldKind)> {
        let (name, kind) = spec.split_once(':').unwrap_or((spec, "string"));
        let kind = match kind {
            "string" | "" => FieldKind::String,
            "int" => FieldKind::Int,
            "float" => FieldKind::Float,
            "bool" => FieldKind::Bool,
            _ => return None,
        };
        Some((name.to_string(), kind))
    }
}

/// A tag set rendered once: `,k=v,...` for the tags and `,k=v,...` for the tags written as fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The tag part, starting with `,` unless empty.
    pub tags: String,
    /// The extra fields, starting with `,` unless empty.
    pub fields: String,
}

/// Renders a tag set; `as_fields` names the tags written as fields instead.
pub fn render(set: &[(String, String)], as_fields: &[(String, FieldKind)]) -> Rendered {
    let mut tags: Vec<&(String, String)> = set.iter().collect();
    tags.sort();
    let mut out = Rendered::default();
    for (k, v) in tags {
        if let Some((_, kind)) = as_fields.iter().find(|(name, _)| name == k) {
            out.fields.push(',');
            escape_key(&mut out.fields, k);
            out.fields.push('=');
            field_value(&mut out.fields, v, *kind);
        } else if !v.is_empty() {
            out.tags.push(',');
            escape_key(&mut out.tags, k);
            out.tags.push('=');
            escape_key(&mut out.tags, v.trim_end_matches('\\'));
        }
    }
    out
}

/// A measurement name with its separators escaped.
pub fn measurement(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            ',' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// Appends one point: `measurement{tags} value=V{fields} T`; false (and nothing appended) for a
/// value InfluxDB cannot store (NaN, infinities).
pub fn point(out: &mut String, measurement: &str, set: &Rendered, value: f64, time: i64) -> bool {
    if !value.is_finite() {
        return false;
    }
    let _ = writeln!(
        out,
        "{measurement}{} value={value}{} {time}",
        set.tags, set.fields
    );
    true
}

/// A tag key, tag value or field key: `,`, `=` and space escaped; line breaks written as `\n`
/// (backslashes are literal in tag values, so this cannot end the line).
fn escape_key(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            ',' | '=' | ' ' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

fn field_value(out: &mut String, v: &str, kind: FieldKind) {
    match kind {
        FieldKind::Int if v.parse::<i64>().is_ok() => {
            out.push_str(v);
            out.push('i');
        }
        FieldKind::Float if v.parse::<f64>().is_ok_and(f64::is_finite) => {
            let _ = write!(out, "{}", v.parse::<f64>().unwrap_or_default());
        }
        FieldKind::Bool
            if matches!(
                v,
                "true"
                    | "false"
                    | "1"
                    | "0"
                    | "t"
                    | "f"
                    | "TRUE"
                    | "FALSE"
                    | "T"
                    | "F"
                    | "True"
                    | "False"
            ) =>
        {
            out.push_str(if matches!(v, "true" | "1" | "t" | "TRUE" | "T" | "True") {
                "true"
            } else {
                "false"
            });
        }
        _ => {
            out.push('"');
            for c in v.chars() {
                if matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn writes_k6_points() {
        let fields = ["vu", "iter", "url"].map(|f| FieldKind::parse(f).unwrap());
        let set = render(
            &tags(&[
                ("status", "200"),
                ("url", "http://a/b?c=\"d\""),
                ("method", "GET"),
                ("error", ""),
            ]),
            &fields,
        );
        let mut out = String::new();
        assert!(point(&mut out, &measurement("http_reqs"), &set, 1.0, 42));
        assert_eq!(
            out,
            "http_reqs,method=GET,status=200 value=1,url=\"http://a/b?c=\\\"d\\\"\" 42\n"
        );
        assert!(!point(&mut out, "m", &set, f64::NAN, 1));
    }

    #[test]
    fn escapes_separators_and_line_breaks() {
        let set = render(&tags(&[("a b", "x,y=z"), ("n", "1\n2\\")]), &[]);
        assert_eq!(set.tags, ",a\\ b=x\\,y\\=z,n=1\\n2");
        assert_eq!(measurement("my metric,x"), "my\\ metric\\,x");
    }

    #[test]
    fn typed_fields_fall_back_to_strings() {
        let fields = ["vu:int", "ok:bool", "w:float"].map(|f| FieldKind::parse(f).unwrap());
        let set = render(
            &tags(&[("vu", "7"), ("ok", "true"), ("w", "x1.5")]),
            &fields,
        );
        assert_eq!(set.fields, ",ok=true,vu=7i,w=\"x1.5\"");
        assert_eq!(set.tags, "");
        assert_eq!(FieldKind::parse("x:date"), None);
    }
}
