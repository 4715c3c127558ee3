//! Errors a built script throws, told in the user's files: the stack frames of an error
//! message that name a line of the bundle (`/bundle.js:731:42`) are rewritten to the user's file,
//! line and column (`file:///…/script.js:8:9`, as k6 prints them), from the table `volley build`
//! embeds (`script_build::source_map`); frames inside Volley's shim are left out.

/// The custom section holding the table.
pub const SECTION: &str = "volley:locations";

/// Where the lines of a bundle came from.
#[derive(Debug, Default)]
pub struct Locations {
    sources: Vec<Option<String>>,
    /// (generated line, generated column, source, original line, original column), 0-based,
    /// sorted by generated line and column.
    segments: Vec<[u32; 5]>,
}

impl Locations {
    /// The table in a [`SECTION`] payload; `None` when malformed.
    pub fn parse(payload: &[u8]) -> Option<Locations> {
        let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
        let sources = serde_json::from_value(v["sources"].clone()).ok()?;
        let mut segments: Vec<[u32; 5]> = serde_json::from_value(v["segments"].clone()).ok()?;
        segments.sort_unstable();
        Some(Locations { sources, segments })
    }

    /// `file:///path:line:col` (1-based) of the bundle's `line`:`col` (1-based, as engines
    /// print them), when it lies in the user's code.
    fn locate(&self, line: u32, col: u32) -> Option<String> {
        let (gl, gc) = (line.checked_sub(1)?, col.saturating_sub(1));
        let end = self.segments.partition_point(|s| (s[0], s[1]) <= (gl, gc));
        let s = self.segments.get(end.checked_sub(1)?)?;
        if s[0] != gl {
            return None;
        }
        let path = self.sources.get(s[2] as usize)?.as_ref()?;
        Some(format!("file://{path}:{}:{}", s[3] + 1, s[4] + 1))
    }

    /// `message` with each stack frame naming the bundle rewritten to the user's file, and the
    /// frames in Volley's shim left out. Without a table (not a built script), as it was.
    pub fn rewrite(&self, message: &str) -> String {
        if self.segments.is_empty() || !message.contains("bundle.js:") {
            return message.to_string();
        }
        let mut out: Vec<String> = Vec::new();
        for line in message.lines() {
            let Some(at) = line.find("bundle.js:") else {
                out.push(line.to_string());
                continue;
            };
            let mut nums = line[at + "bundle.js:".len()..]
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|n| n.parse::<u32>().ok());
            if let (Some(Some(l)), Some(Some(c))) = (nums.next(), nums.next()) {
                if let Some(loc) = self.locate(l, c) {
                    out.push(format!("\tat {loc}"));
                }
            }
        }
        out.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_in_the_users_code_are_rewritten_and_the_shims_left_out() {
        let table = br#"{"sources":["/s/throw.js",null],"segments":[[730,0,0,7,2],[730,20,0,7,8],[612,0,1,3,0]]}"#;
        let l = Locations::parse(table).unwrap();
        let msg = "init failed in VU 2\n    at user_default (/bundle.js:731:42)\n    at init (/bundle.js:613:30)";
        assert_eq!(
            l.rewrite(msg),
            "init failed in VU 2\n\tat file:///s/throw.js:8:9"
        );
        assert_eq!(l.rewrite("no frames"), "no frames");
        assert_eq!(
            Locations::default().rewrite(msg),
            msg,
            "no table: unchanged"
        );
    }
}
