//! `volley run -`: the test read from standard input, as `k6 run -` reads it. A component is
//! recognised by WebAssembly's `\0asm` magic; anything else is a k6 script, written to a hidden
//! file in the current directory (so its relative imports, `open()` and `.proto` files resolve
//! there, as under k6) for the build, and removed once built.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The name `volley run` takes for standard input.
pub const STDIN: &str = "-";

/// WebAssembly's magic number, which every component starts with.
const WASM_MAGIC: &[u8] = b"\0asm";

/// Whether `path` means standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == STDIN
}

/// Why standard input gave no test.
#[derive(Debug, thiserror::Error)]
pub enum StdinError {
    /// Reading failed.
    #[error("cannot read the test from standard input: {0}")]
    Read(std::io::Error),
    /// Nothing was piped in.
    #[error("standard input is empty: pipe a k6 script or a component into `volley run -`")]
    Empty,
    /// The script could not be written where the build reads it.
    #[error("cannot write the script read from standard input to {path}: {source}")]
    Write {
        /// Where.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What standard input held.
pub enum Input {
    /// A WebAssembly component's bytes.
    Component(Vec<u8>),
    /// A k6 script, in a file removed when this is dropped.
    Script(ScriptFile),
}

/// A script from standard input, saved for the build; removed on drop.
pub struct ScriptFile(PathBuf);

impl ScriptFile {
    /// Where the script is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScriptFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Reads the whole of `input` and sorts it into a component or a script saved in `dir`.
pub fn read(mut input: impl Read, dir: &Path) -> Result<Input, StdinError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(StdinError::Read)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(StdinError::Empty);
    }
    if bytes.starts_with(WASM_MAGIC) {
        return Ok(Input::Component(bytes));
    }
    // Named after its content, so the bundle (which names the file) and the build cache's key
    // are the same for the same script.
    let digest = Sha256::digest(&bytes);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!(".volley-stdin-{hex}.js"));
    std::fs::write(&path, &bytes).map_err(|source| StdinError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(Input::Script(ScriptFile(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("volley-stdin-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_component_is_sniffed_by_its_magic() {
        let d = dir("wasm");
        let bytes = b"\0asm\x0d\x00\x01\x00rest".to_vec();
        match read(&bytes[..], &d).unwrap() {
            Input::Component(b) => assert_eq!(b, bytes),
            Input::Script(_) => panic!("a component was taken for a script"),
        }
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0, "nothing written");
    }

    #[test]
    fn a_script_is_saved_for_the_build_and_removed_after() {
        let d = dir("js");
        let text = "export default function () {}\n";
        let path = match read(text.as_bytes(), &d).unwrap() {
            Input::Script(file) => {
                assert_eq!(std::fs::read_to_string(file.path()).unwrap(), text);
                assert_eq!(file.path().parent(), Some(d.as_path()));
                file.path().to_path_buf()
            }
            Input::Component(_) => panic!("a script was taken for a component"),
        };
        assert!(!path.exists(), "the saved script is removed on drop");
    }

    #[test]
    fn empty_input_is_refused() {
        let e = read(&b" \n"[..], &dir("empty")).err().unwrap();
        assert!(e.to_string().contains("standard input is empty"), "{e}");
    }
}
