//! Which JavaScript engine a script is built on, and how each engine's npm tool is run.
//!
//! Both engines build the same esbuild bundle (the script and the `sdk/js` shim); only the tool
//! that turns it into a component differs. `VOLLEY_JS_ENGINE` picks one (see
//! `docs/design/008-javascript-engine.md` for the measurements behind the default).

use std::ffi::OsStr;
use std::path::Path;

use super::BuildError;

/// The environment variable that picks the engine.
pub const ENV: &str = "VOLLEY_JS_ENGINE";

/// A JavaScript engine a scenario can be built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsEngine {
    /// SpiderMonkey (StarlingMonkey), through componentize-js: a pre-initialised 12 MB engine.
    SpiderMonkey,
    /// QuickJS-ng, through componentize-qjs (rquickjs + wit-dylib, pre-initialised with Wizer).
    QuickJs,
}

impl JsEngine {
    /// Every engine, with the names `VOLLEY_JS_ENGINE` takes.
    pub const ALL: [(&'static str, JsEngine); 2] = [
        ("spidermonkey", JsEngine::SpiderMonkey),
        ("quickjs", JsEngine::QuickJs),
    ];

    /// The engine used when `VOLLEY_JS_ENGINE` is unset or empty: QuickJS, which measured 2.5-3x
    /// less CPU per request and 4x less memory per VU than SpiderMonkey (design note 008).
    pub const DEFAULT: JsEngine = JsEngine::QuickJs;

    /// The engine `VOLLEY_JS_ENGINE` names, or the default.
    pub fn from_env() -> Result<JsEngine, BuildError> {
        match std::env::var(ENV) {
            Ok(v) if !v.trim().is_empty() => JsEngine::parse(v.trim()),
            _ => Ok(JsEngine::DEFAULT),
        }
    }

    /// The engine called `name` (case-insensitive).
    pub fn parse(name: &str) -> Result<JsEngine, BuildError> {
        JsEngine::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, e)| *e)
            .ok_or_else(|| BuildError::UnknownEngine {
                value: name.to_string(),
            })
    }

    /// Its name, as `VOLLEY_JS_ENGINE` takes it.
    pub fn name(self) -> &'static str {
        JsEngine::ALL
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("?", |(n, _)| n)
    }

    /// The npm package that componentizes the bundle, and the version Volley is tested with.
    pub fn package(self) -> (&'static str, &'static str) {
        match self {
            JsEngine::SpiderMonkey => super::COMPONENTIZE_JS,
            JsEngine::QuickJs => super::COMPONENTIZE_QJS,
        }
    }

    /// The command in `node_modules/.bin` that componentizes the bundle.
    pub fn tool(self) -> &'static str {
        match self {
            JsEngine::SpiderMonkey => "componentize-js",
            JsEngine::QuickJs => "componentize-qjs",
        }
    }

    /// The tool's arguments: the `bundle` against the WIT folder `wit` (world
    /// [`super::WORLD`]) into `out`.
    pub fn args<'a>(self, bundle: &'a Path, wit: &'a Path, out: &'a Path) -> Vec<&'a OsStr> {
        match self {
            // -d http -d fetch-event: without them the component imports wasi:http for `fetch`;
            // HTTP goes through volley:scenario/http instead.
            JsEngine::SpiderMonkey => vec![
                bundle.as_os_str(),
                "--wit".as_ref(),
                wit.as_os_str(),
                "--world-name".as_ref(),
                super::WORLD.as_ref(),
                "-d".as_ref(),
                "http".as_ref(),
                "-d".as_ref(),
                "fetch-event".as_ref(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
            // --sync: the host calls exports synchronously (no component-model async ABI).
            JsEngine::QuickJs => vec![
                "--sync".as_ref(),
                "--wit".as_ref(),
                wit.as_os_str(),
                "--world".as_ref(),
                super::WORLD.as_ref(),
                "--js".as_ref(),
                bundle.as_os_str(),
                "-o".as_ref(),
                out.as_os_str(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_are_named_and_unknown_names_are_refused() {
        assert_eq!(JsEngine::parse("QuickJS").unwrap(), JsEngine::QuickJs);
        assert_eq!(
            JsEngine::parse("spidermonkey").unwrap(),
            JsEngine::SpiderMonkey
        );
        for (name, engine) in JsEngine::ALL {
            assert_eq!(engine.name(), name);
        }
        let e = JsEngine::parse("v8").unwrap_err().to_string();
        assert!(e.contains("'v8'") && e.contains("quickjs"), "{e}");
    }
}
