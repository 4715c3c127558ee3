//! Past one process: `volley run` splits the test into execution segments, runs each in a child
//! process of itself (a shard) and coordinates them: one progress, thresholds on the merged
//! metrics while the run goes, one summary, one set of outputs, one exit code. Shards stream
//! exact metric deltas over the versioned [`protocol`]. See `docs/design/009-sharding.md`.

pub mod child;
pub mod coordinator;
pub mod protocol;

use crate::app::Prepared;
use crate::cli::RunArgs;
use crate::config::ConfigError;
use crate::plan::executor::{Closed, Drive};

pub use coordinator::{coordinate, ShardError};

/// Most VUs one process is planned to hold on this machine for component `wasm`: what the
/// kernel's mapping limit and the open-files limit allow ([`crate::limits::vus_per_process`]),
/// less a tenth for headroom. A test planning more is split into `ceil(VUs / this)` shards
/// unless `--processes` says otherwise.
pub fn vus_per_process(wasm: &[u8]) -> u32 {
    let fit = crate::limits::vus_per_process(crate::vu::maps_per_vu(wasm));
    u32::try_from(fit - fit / 10).unwrap_or(u32::MAX).max(1)
}
/// Most shards one coordinator starts.
pub const MAX_PROCESSES: u32 = 256;

/// One shard's place among its coordinator's: shard `index` of `count`, running the segment
/// `index/count:(index+1)/count` of the sequence `0,1/count,…,1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardId {
    /// 0-based.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl ShardId {
    /// Reads `INDEX/COUNT` (the hidden `--shard-child` flag).
    pub fn parse(s: &str) -> Result<ShardId, String> {
        let bad = || format!("invalid shard {s:?}: expected INDEX/COUNT with INDEX < COUNT");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if index >= count || count > MAX_PROCESSES {
            return Err(bad());
        }
        Ok(ShardId { index, count })
    }

    /// Worker threads for this shard's runtime: the machine's cores shared among the shards, at
    /// least one. A runtime per shard with a worker per core would put `count` × cores threads
    /// on the same cores, waking each other to steal work: 50,000 VUs (GET + sleep 10 s) in 4
    /// shards on 2 cores took 55–59 CPU-s with 2 workers per shard, 52–53 with one.
    pub fn worker_threads(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        (cores / self.count as usize).max(1)
    }

    /// Its execution segment.
    pub fn segment(&self) -> String {
        format!("{}/{n}:{}/{n}", self.index, self.index + 1, n = self.count)
    }

    /// The sequence every shard shares.
    pub fn sequence(&self) -> String {
        (0..=self.count)
            .map(|i| format!("{i}/{}", self.count))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// How many shards `p` runs in: `None` for one process (this one). `--processes N` decides;
/// without it, a test planning more than [`vus_per_process`] VUs is split so each shard plans
/// at most that many, unless it cannot be (an execution segment of its own, or an
/// externally-controlled scenario).
pub fn processes(args: &RunArgs, p: &Prepared) -> Result<Option<u32>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid {
        key: "processes".into(),
        reason,
    };
    let splittable = p.segment.segment().is_full()
        && !p
            .test
            .scenarios
            .iter()
            .any(|s| matches!(s.drive(), Drive::Closed(Closed::External { .. })));
    match args.processes {
        Some(0) => Err(invalid("must be at least 1".into())),
        Some(n) if n > MAX_PROCESSES => Err(invalid(format!("at most {MAX_PROCESSES}"))),
        Some(1) => Ok(None),
        Some(_) if !p.segment.segment().is_full() => Err(invalid(
            "cannot be combined with --execution-segment (split the test one way)".into(),
        )),
        Some(_) if !splittable => Err(invalid(
            "externally-controlled scenarios cannot be split into processes".into(),
        )),
        Some(n) => Ok(Some(n)),
        None => {
            let (vus, per_process) = (p.test.max_vus(), vus_per_process(&p.wasm));
            Ok((splittable && vus > per_process)
                .then(|| vus.div_ceil(per_process).min(MAX_PROCESSES)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ids_give_segments_that_tile_the_sequence() {
        let id = ShardId::parse("1/4").unwrap();
        assert_eq!(id.segment(), "1/4:2/4");
        assert_eq!(id.sequence(), "0/4,1/4,2/4,3/4,4/4");
        for bad in ["4/4", "1", "a/2", "0/0", "0/100000"] {
            assert!(ShardId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_share_the_cores_between_their_runtimes() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(ShardId::parse("0/1").unwrap().worker_threads(), cores);
        let two = ShardId::parse("1/2").unwrap().worker_threads();
        assert_eq!(two, (cores / 2).max(1));
        assert!(2 * two <= cores.max(2));
        assert_eq!(ShardId::parse("3/256").unwrap().worker_threads(), 1);
    }
}
