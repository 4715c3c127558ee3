//! Instantiation time and RSS per idle VU of a scenario component, measured directly: compile
//! once, then create N VUs (a Store and an instance each, from the pooling allocator) one after
//! another and keep them alive without running an iteration.
//!
//! `cargo run --release --example instantiate -- COMPONENT.wasm [N]` prints one line:
//! `instantiate_us_median instantiate_us_p99 rss_per_idle_vu_kb` (N defaults to 200).
//! Used by `bench/languages.sh`.

use std::sync::Arc;
use std::time::Instant;

use volley::metrics::{Aggregate, Registry, Tags};
use volley::sandbox::Sandbox;
use volley::transport::{HttpConfig, HttpSettings};
use volley::vu::{Plugin, PoolSize, Vu, VuSetup};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: instantiate COMPONENT.wasm [N]")?;
    let n: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let sandbox = Sandbox {
        max_memory: 256 << 20,
        allow_imports: vec!["wasi:filesystem/*".into(), "wasi:sockets/*".into()],
        ..Sandbox::default()
    };
    let plugin = Arc::new(Plugin::from_file(
        std::path::Path::new(&path),
        Some(PoolSize {
            instances: n + 1,
            max_memory: sandbox.max_memory,
        }),
        &sandbox,
    )?);
    let agg = Aggregate::new(Tags::new(), Registry::new());
    let sandbox = Arc::new(sandbox);
    let http = Arc::new(HttpConfig::new(&HttpSettings::default())?);
    let setup = |id: u32| VuSetup::standalone(id, "bench", &agg, sandbox.clone(), http.clone());
    // One VU first, so that lazily initialised host state is not charged to the measured ones.
    let first = Vu::new(plugin.clone(), setup(0)).await?;
    let before = rss_kb();
    let mut vus = Vec::with_capacity(n as usize);
    let mut times = Vec::with_capacity(n as usize);
    for id in 1..=n {
        let t = Instant::now();
        vus.push(Vu::new(plugin.clone(), setup(id)).await?);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let after = rss_kb();
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{:.0} {:.0} {:.1}",
        pick(0.5),
        pick(0.99),
        after.saturating_sub(before) as f64 / f64::from(n.max(1))
    );
    drop(vus);
    drop(first);
    Ok(())
}
