//! Write [Volley](https://example.invalid/volley) load-test scenarios in Rust.
//!
//! A scenario is a WebAssembly component: build it with
//! `cargo build --target wasm32-wasip2 --release` and run it with `volley run scenario.wasm`.
//! This crate hides the generated WIT bindings behind an API that reads like a k6 script.
//!
//! ```no_run
//! use std::time::Duration;
//! use volley_sdk::{check, env, http, sleep, Error, Scenario};
//!
//! struct Hello;
//!
//! impl Scenario for Hello {
//!     const OPTIONS: &'static str = r#"
//!         vus = 10
//!         duration = "30s"
//!         [thresholds]
//!         http_req_duration = ["p(95)<500"]
//!     "#;
//!
//!     fn iteration(_data: &str) -> Result<(), Error> {
//!         let base = env("BASE_URL").ok_or("BASE_URL is not set")?;
//!         let res = http::get(format!("{base}/")).timeout(Duration::from_secs(10)).send();
//!         check(&res, "is status 200", |r| matches!(r, Ok(r) if r.status() == 200));
//!         sleep(Duration::from_millis(500));
//!         Ok(())
//!     }
//! }
//!
//! volley_sdk::scenario!(Hello);
//! ```
#![deny(missing_docs)]

pub mod grpc;
pub mod http;
pub mod log;
pub mod metrics;
pub mod tcp;
pub mod vu;
pub mod websocket;

use std::time::Duration;

#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "volley:scenario/scenario@0.1.5",
        pub_export_macro: true,
        default_bindings_module: "volley_sdk::wit",
    });
}

/// A scenario: what one VU does in one iteration, plus optional defaults, setup and teardown.
///
/// Export it from your crate with [`scenario!`].
pub trait Scenario {
    /// Default options as TOML, like k6's `export const options` (`stages`, `vus`, `duration`,
    /// `thresholds`, ...). The test file, environment and CLI flags override them.
    const OPTIONS: &'static str = "";

    /// The default options the host reads before the run: [`Scenario::OPTIONS`] unless
    /// overridden. Like k6's `export const options`, it may read the run's variables with
    /// [`env`] (`-e` and the test file's `[env]`).
    fn options() -> String {
        Self::OPTIONS.to_string()
    }

    /// Runs once before the load starts; what it returns is passed to every iteration.
    fn setup() -> Result<String, Error> {
        Ok(String::new())
    }

    /// One iteration of one VU (k6's `default` function). An error fails this iteration only.
    fn iteration(data: &str) -> Result<(), Error>;

    /// One iteration of a scenario whose `exec` names another entry point than `default`.
    /// The default refuses every name; override it to offer several entry points.
    fn exec(name: &str, _data: &str) -> Result<(), Error> {
        Err(Error::from(format!(
            "this plugin has no entry point '{name}'"
        )))
    }

    /// Runs once after the load has finished.
    fn teardown(_data: &str) -> Result<(), Error> {
        Ok(())
    }
}

/// Exports a type implementing [`Scenario`] as the component's scenario.
#[macro_export]
macro_rules! scenario {
    ($ty:ident) => {
        impl $crate::wit::Guest for $ty {
            fn options() -> ::std::string::String {
                <$ty as $crate::Scenario>::options()
            }
            fn setup() -> ::std::result::Result<::std::string::String, ::std::string::String> {
                <$ty as $crate::Scenario>::setup().map_err($crate::Error::into_message)
            }
            fn iteration(data: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                let exec = $crate::vu::exec();
                let result = if exec == "default" {
                    <$ty as $crate::Scenario>::iteration(&data)
                } else {
                    <$ty as $crate::Scenario>::exec(&exec, &data)
                };
                result.map_err($crate::Error::into_message)
            }
            fn teardown(data: ::std::string::String) -> ::std::result::Result<(), ::std::string::String> {
                <$ty as $crate::Scenario>::teardown(&data).map_err($crate::Error::into_message)
            }
        }
        $crate::wit::export!($ty with_types_in $crate::wit);
    };
}

/// An error that fails the current iteration (or setup/teardown), with a message for the log.
///
/// Anything that implements `Display` converts into it, so `?` works on most errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// The error message.
    pub fn message(&self) -> &str {
        &self.0
    }

    /// Turns the error into its message.
    pub fn into_message(self) -> String {
        self.0
    }
}

impl<E: std::fmt::Display> From<E> for Error {
    fn from(err: E) -> Self {
        Error(err.to_string())
    }
}

/// Why the host could not do what a network call asked (HTTP, WebSockets, gRPC, raw TCP): k6's
/// `error_code` and `error`. One type for every protocol, so `?` and matching on codes work alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetError {
    code: u32,
    message: String,
}

impl NetError {
    /// An error with k6's `code` and `message`.
    pub(crate) fn new(code: u32, message: impl Into<String>) -> Self {
        NetError {
            code,
            message: message.into(),
        }
    }

    /// k6's numeric error code (1050 timeout, 1101 DNS, 1211 connect timeout, 1212 refused,
    /// 1220 reset, 1310 unknown TLS authority, 1400 denied by the sandbox, 1000 anything else).
    pub fn code(&self) -> u32 {
        self.code
    }

    /// k6's error text.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the call timed out.
    pub fn is_timeout(&self) -> bool {
        self.code == 1050
    }

    /// Whether the sandbox refused the host (no connection was opened).
    pub fn is_denied(&self) -> bool {
        self.code == 1400
    }
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NetError {}

impl From<wit::volley::scenario::http::Failure> for NetError {
    fn from(f: wit::volley::scenario::http::Failure) -> Self {
        NetError::new(f.code, f.message)
    }
}

/// Records a named check on `value`, as k6's `check(res, { name: fn })`, and returns the result.
///
/// Each call adds one sample to the `checks` rate metric.
pub fn check<T: ?Sized>(value: &T, name: &str, predicate: impl FnOnce(&T) -> bool) -> bool {
    let passed = predicate(value);
    wit::volley::scenario::checks::check(name, passed)
}

/// Runs `f` inside group `name` (k6's `group`): what it records carries the `group` tag
/// (`::outer::inner` when nested) and its run time goes to `group_duration`.
pub fn group<T>(name: &str, f: impl FnOnce() -> T) -> T {
    wit::volley::scenario::group::enter(name);
    let out = f();
    wit::volley::scenario::group::exit();
    out
}

/// Suspends this VU for `duration` without blocking any other VU (k6's `sleep`).
pub fn sleep(duration: Duration) {
    wit::volley::scenario::timing::sleep(duration.as_millis().min(u64::MAX as u128) as u64);
}

/// Time since the test started, from the host's monotonic clock.
pub fn elapsed() -> Duration {
    Duration::from_secs_f64(wit::volley::scenario::timing::now().max(0.0) / 1000.0)
}

/// A test variable given with `-e NAME=VALUE` or `env` in the test file (k6's `__ENV.NAME`).
///
/// A VU's variables are fixed for its life, so each name is asked of the host once and then
/// answered from this instance's own memory: a scenario may read them every iteration for free.
pub fn env(name: &str) -> Option<String> {
    thread_local! {
        static SEEN: std::cell::RefCell<Vec<(String, Option<String>)>> =
            const { std::cell::RefCell::new(Vec::new()) };
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some((_, value)) = seen.iter().find(|(n, _)| n == name) {
            return value.clone();
        }
        let value = wit::volley::scenario::vu::env(name);
        seen.push((name.to_owned(), value.clone()));
        value
    })
}
