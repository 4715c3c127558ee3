//! The host side of the `init` import (k6's init context): the failure of a VU's init context,
//! the files `volley build` embedded for `open()`, and k6's `SharedArray`, made once in the
//! options pass and read by every VU from one copy held here.

use std::collections::HashMap;
use std::sync::Arc;

use super::bindings::init;
use super::state::VuState;

/// The name of the component's custom section holding the files `open()` reads (written by
/// `script_build::files`).
pub const FILES_SECTION: &str = "volley:files";

/// Longest init-failure message kept.
const MAX_FAILURE_BYTES: usize = 8 << 10;

/// Files embedded in a component, by the name the script gives `open()`.
#[derive(Debug, Default)]
pub struct Files(HashMap<String, Arc<[u8]>>);

impl Files {
    /// The files in `section` (the payload of [`FILES_SECTION`]): a u32 count, then each file as
    /// a u32 name length, the name (UTF-8), a u64 length and the bytes, little-endian. `None`
    /// when the payload is malformed.
    pub fn parse(section: &[u8]) -> Option<Files> {
        fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
            let (head, rest) = (b.get(..n)?, b.get(n..)?);
            *b = rest;
            Some(head)
        }
        fn u32_of(b: &mut &[u8]) -> Option<u32> {
            Some(u32::from_le_bytes(take(b, 4)?.try_into().ok()?))
        }
        let mut b = section;
        let count = u32_of(&mut b)?;
        let mut files = HashMap::new();
        for _ in 0..count {
            let len = u32_of(&mut b)? as usize;
            let name = std::str::from_utf8(take(&mut b, len)?).ok()?.to_string();
            let len = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
            let data = take(&mut b, usize::try_from(len).ok()?)?;
            files.insert(name, Arc::from(data));
        }
        b.is_empty().then_some(Files(files))
    }

    /// The file the script names `path` (`./a.csv` and `a.csv` are the same file).
    pub fn get(&self, path: &str) -> Option<&Arc<[u8]>> {
        self.0.get(path).or_else(|| self.0.get(normalize(path)))
    }
}

/// The payload of the component `bytes`' top-level custom section `name`; `None` when it has
/// none (or its sections cannot be read: compiling it then says why).
pub fn custom_section<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    fn leb(bytes: &[u8], pos: &mut usize) -> Option<usize> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = *bytes.get(*pos)?;
            *pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(value).ok();
            }
        }
        None
    }
    let mut pos = 8;
    while pos < bytes.len() {
        let id = bytes[pos];
        pos += 1;
        let len = leb(bytes, &mut pos)?;
        let end = pos.checked_add(len)?;
        let section = bytes.get(pos..end)?;
        if id == 0 {
            let mut at = 0;
            let name_len = leb(section, &mut at)?;
            if section.get(at..at.checked_add(name_len)?)? == name.as_bytes() {
                return section.get(at + name_len..);
            }
        }
        pos = end;
    }
    None
}

/// `path` without a leading `./` (how `script_build::files` records names).
pub fn normalize(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p
}

/// One shared array: its elements' JSON texts, end to end.
#[derive(Debug, Default)]
struct Array {
    text: String,
    /// Where each element ends in `text`.
    ends: Vec<u32>,
}

impl Array {
    fn element(&self, index: u32) -> Option<&str> {
        let i = index as usize;
        let end = *self.ends.get(i)? as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.text.get(start..end)
    }
}

/// Every shared array of a test, by handle; made in the options pass, then read-only.
#[derive(Debug, Default)]
pub struct SharedData {
    arrays: Vec<Array>,
    names: HashMap<String, u32>,
    /// Bytes held, counting each element's text and its index entry.
    bytes: usize,
}

impl SharedData {
    /// Appends `elements` to array `name`; an error when the total would pass `limit` bytes.
    fn append(&mut self, name: String, elements: Vec<String>, limit: usize) -> Result<(), String> {
        let adding: usize = elements.iter().map(|e| e.len() + 4).sum::<usize>() + name.len();
        if self.bytes.saturating_add(adding) > limit {
            return Err(format!(
                "SharedArray '{name}': shared arrays may hold at most {} MiB in all; this one would take them past it",
                limit >> 20
            ));
        }
        let handle = match self.names.get(&name) {
            Some(h) => *h,
            None => {
                self.arrays.push(Array::default());
                let h = (self.arrays.len() - 1) as u32;
                self.names.insert(name, h);
                h
            }
        };
        let array = &mut self.arrays[handle as usize];
        for e in elements {
            array.text.push_str(&e);
            array.ends.push(array.text.len() as u32);
        }
        self.bytes += adding;
        Ok(())
    }

    /// Bytes the arrays hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// A VU's view of the init import: the component's files and the test's shared arrays.
pub struct InitState {
    /// The component's embedded files.
    pub files: Arc<Files>,
    /// The shared arrays: being made (the options pass) or made (every other VU).
    pub shared: Shared,
    /// Whether the VU is in the call that runs its init context.
    pub in_init: bool,
    /// What the init context threw, reported through `init.failed`.
    pub failure: Option<String>,
    /// Longest the init context may run (see `VuSetup::init_limit`).
    pub limit: std::time::Duration,
}

/// The shared arrays as a VU sees them.
pub enum Shared {
    /// This VU is the options pass: its init context makes them.
    Making(SharedData),
    /// Made by the options pass, read-only.
    Made(Arc<SharedData>),
}

impl Shared {
    fn data(&self) -> &SharedData {
        match self {
            Shared::Making(d) => d,
            Shared::Made(d) => d,
        }
    }
}

impl InitState {
    /// No files, no shared arrays (a VU made outside a test, or before its plugin is loaded).
    pub fn empty() -> Self {
        InitState {
            files: Arc::default(),
            shared: Shared::Made(Arc::default()),
            in_init: false,
            failure: None,
            limit: super::INIT_TIMEOUT,
        }
    }
}

impl init::Host for VuState {
    fn failed(&mut self, message: String) {
        let mut message = message;
        if message.len() > MAX_FAILURE_BYTES {
            let mut cut = MAX_FAILURE_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str(" [cut]");
        }
        self.init.failure = Some(message);
    }

    fn read_file(&mut self, path: String) -> Option<Vec<u8>> {
        self.init.files.get(&path).map(|d| d.to_vec())
    }

    fn read_text(&mut self, path: String) -> Option<String> {
        self.init
            .files
            .get(&path)
            .map(|d| String::from_utf8_lossy(d).into_owned())
    }

    fn share_append(&mut self, name: String, elements: Vec<String>) -> Result<(), String> {
        let in_init = self.init.in_init;
        match &mut self.init.shared {
            Shared::Making(data) if in_init => {
                data.append(name, elements, crate::limits::shared_data_max_bytes())
            }
            _ => Err(format!(
                "SharedArray '{name}' was not made by the first init context (the options pass, __VU 0): \
                 make every SharedArray at the top level of the script, in every VU, as k6 requires"
            )),
        }
    }

    fn shared(&mut self, name: String) -> Option<(u32, u32)> {
        let data = self.init.shared.data();
        let handle = *data.names.get(&name)?;
        Some((handle, data.arrays[handle as usize].ends.len() as u32))
    }

    fn shared_element(&mut self, handle: u32, index: u32) -> Option<String> {
        self.init
            .shared
            .data()
            .arrays
            .get(handle as usize)?
            .element(index)
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_malformed_sections_are_refused() {
        let mut s = 2u32.to_le_bytes().to_vec();
        for (name, data) in [("a.txt", &b"hello"[..]), ("d/b.bin", &[0u8, 255][..])] {
            s.extend((name.len() as u32).to_le_bytes());
            s.extend(name.as_bytes());
            s.extend((data.len() as u64).to_le_bytes());
            s.extend(data);
        }
        let files = Files::parse(&s).unwrap();
        assert_eq!(&**files.get("./a.txt").unwrap(), b"hello");
        assert_eq!(&**files.get("d/b.bin").unwrap(), &[0, 255]);
        assert!(files.get("c").is_none());
        assert!(Files::parse(&s[..s.len() - 1]).is_none(), "truncated");
        let mut long = s.clone();
        long.push(0);
        assert!(Files::parse(&long).is_none(), "trailing bytes");
    }

    #[test]
    fn shared_arrays_hold_elements_and_refuse_past_the_limit() {
        let mut d = SharedData::default();
        d.append("a".into(), vec!["1".into(), "\"x\"".into()], 100)
            .unwrap();
        d.append("a".into(), vec!["[3]".into()], 100).unwrap();
        let a = &d.arrays[0];
        assert_eq!(
            (a.element(0), a.element(1), a.element(2), a.element(3)),
            (Some("1"), Some("\"x\""), Some("[3]"), None)
        );
        let e = d
            .append("b".into(), vec!["x".repeat(100)], 100)
            .unwrap_err();
        assert!(e.contains("'b'") && e.contains("at most"), "{e}");
        assert!(
            !d.names.contains_key("b"),
            "nothing kept of a refused append"
        );
    }
}
