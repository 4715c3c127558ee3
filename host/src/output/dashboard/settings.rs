//! Where and how often the dashboard serves: `--dashboard`/`--dashboard-address` (and their
//! `VOLLEY_WEB_DASHBOARD*` variables, read by the CLI), else k6's `K6_WEB_DASHBOARD`,
//! `K6_WEB_DASHBOARD_HOST`, `K6_WEB_DASHBOARD_PORT`, `K6_WEB_DASHBOARD_PERIOD` and
//! `K6_WEB_DASHBOARD_EXPORT`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::DashboardError;

/// k6's dashboard port.
pub const DEFAULT_PORT: u16 = 5665;

/// The shortest update period (a browser cannot be made to drive renders faster).
pub const MIN_PERIOD: Duration = Duration::from_millis(200);

/// The dashboard as asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where to listen.
    pub address: SocketAddr,
    /// How often the page is updated (default 1 s).
    pub period: Duration,
}

/// What the dashboard flags and variables ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// Serve a dashboard (`None` when it was not asked for, or `K6_WEB_DASHBOARD_PORT=-1`).
    pub serve: Option<Settings>,
    /// `K6_WEB_DASHBOARD_EXPORT`: where to write the final report.
    pub export: Option<PathBuf>,
}

impl Asked {
    /// From the CLI's `--dashboard` and `--dashboard-address` and the `K6_WEB_DASHBOARD*`
    /// variables read through `var`. The flags win over k6's variables.
    pub fn new(
        flag: bool,
        address: Option<SocketAddr>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Asked, DashboardError> {
        let bad = |name: &str, value: &str, why: &str| DashboardError::Setting {
            name: name.to_string(),
            value: value.to_string(),
            why: why.to_string(),
        };
        let enabled = flag
            || match var("K6_WEB_DASHBOARD") {
                None => false,
                Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(bad("K6_WEB_DASHBOARD", &v, "expected true or false")),
                },
            };
        if !enabled {
            return Ok(Asked {
                serve: None,
                export: None,
            });
        }
        let export = var("K6_WEB_DASHBOARD_EXPORT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let period = match var("K6_WEB_DASHBOARD_PERIOD") {
            None => Duration::from_secs(1),
            Some(v) => crate::duration::parse_duration(&v)
                .ok()
                .filter(|d| *d >= MIN_PERIOD)
                .ok_or_else(|| {
                    bad(
                        "K6_WEB_DASHBOARD_PERIOD",
                        &v,
                        "expected a duration of at least 200ms, e.g. 1s",
                    )
                })?,
        };
        let address = match address {
            Some(a) => a,
            None => {
                let host = match var("K6_WEB_DASHBOARD_HOST").filter(|h| !h.is_empty()) {
                    None => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    Some(h) if h == "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    Some(h) => h.parse().map_err(|_| {
                        bad(
                            "K6_WEB_DASHBOARD_HOST",
                            &h,
                            "expected an IP address such as 127.0.0.1",
                        )
                    })?,
                };
                let port = match var("K6_WEB_DASHBOARD_PORT") {
                    None => DEFAULT_PORT,
                    Some(p) if p.trim() == "-1" => {
                        return Ok(Asked {
                            serve: None,
                            export,
                        })
                    }
                    Some(p) => p.trim().parse().map_err(|_| {
                        bad(
                            "K6_WEB_DASHBOARD_PORT",
                            &p,
                            "expected a port (0 to 65535) or -1 for none",
                        )
                    })?,
                };
                SocketAddr::new(host, port)
            }
        };
        Ok(Asked {
            serve: Some(Settings { address, period }),
            export,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(flag: bool, vars: &[(&str, &str)]) -> Result<Asked, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Asked::new(flag, None, |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn off_unless_asked() {
        assert_eq!(asked(false, &[]).unwrap().serve, None);
        assert_eq!(
            asked(false, &[("K6_WEB_DASHBOARD", "false")])
                .unwrap()
                .serve,
            None
        );
        assert_eq!(
            asked(false, &[("K6_WEB_DASHBOARD_PORT", "1")])
                .unwrap()
                .serve,
            None
        );
    }

    #[test]
    fn k6_variables_choose_address_period_and_export() {
        let a = asked(
            false,
            &[
                ("K6_WEB_DASHBOARD", "true"),
                ("K6_WEB_DASHBOARD_PORT", "7000"),
                ("K6_WEB_DASHBOARD_PERIOD", "2s"),
                ("K6_WEB_DASHBOARD_EXPORT", "r.html"),
            ],
        )
        .unwrap();
        let s = a.serve.unwrap();
        assert_eq!(s.address, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(s.period, Duration::from_secs(2));
        assert_eq!(a.export, Some(PathBuf::from("r.html")));
        let default = asked(true, &[]).unwrap().serve.unwrap();
        assert_eq!(default.address, "127.0.0.1:5665".parse().unwrap());
        assert_eq!(default.period, Duration::from_secs(1));
    }

    #[test]
    fn port_minus_one_serves_nothing_but_still_exports() {
        let a = asked(
            true,
            &[
                ("K6_WEB_DASHBOARD_PORT", "-1"),
                ("K6_WEB_DASHBOARD_EXPORT", "r.html"),
            ],
        )
        .unwrap();
        assert_eq!(a.serve, None);
        assert_eq!(a.export, Some(PathBuf::from("r.html")));
    }

    #[test]
    fn bad_values_are_named() {
        for (name, value) in [
            ("K6_WEB_DASHBOARD", "maybe"),
            ("K6_WEB_DASHBOARD_PORT", "70000"),
            ("K6_WEB_DASHBOARD_HOST", "example.com"),
            ("K6_WEB_DASHBOARD_PERIOD", "1ms"),
        ] {
            let flag = name != "K6_WEB_DASHBOARD";
            let e = asked(flag, &[(name, value)]).unwrap_err();
            assert!(e.contains(name) && e.contains(value), "{e}");
        }
    }

    #[test]
    fn the_flag_address_wins() {
        let a = Asked::new(true, Some("127.0.0.1:0".parse().unwrap()), |n| {
            (n == "K6_WEB_DASHBOARD_PORT").then(|| "7000".to_string())
        })
        .unwrap();
        assert_eq!(a.serve.unwrap().address.port(), 0);
    }
}
