//! Loading a scenario component: checks that it is a component of our world, compiles it once
//! (cached on disk by content and engine settings), and pre-instantiates it for cheap VUs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{Scenario, ScenarioIndices, ScenarioPre};
use super::init::{custom_section, Files, SharedData, FILES_SECTION};
use super::locations::{self, Locations};
use super::state::VuState;
use crate::sandbox::Sandbox;

/// WIT package version this host implements. Components built against any earlier 0.1.x
/// version link too (wasmtime matches semver-compatible imports).
pub const WORLD_VERSION: &str = "0.1.5";
/// Patch versions of `volley:scenario@0.1` this host can run: up to [`WORLD_VERSION`]'s own.
const SUPPORTED_PATCHES: std::ops::RangeInclusive<u32> = 0..=patch_of(WORLD_VERSION);
/// Exports a scenario component must have.
const EXPORTS: [&str; 4] = ["options", "setup", "iteration", "teardown"];

/// The patch number of `major.minor.patch` (digits after the second dot), at compile time.
const fn patch_of(version: &str) -> u32 {
    let bytes = version.as_bytes();
    let (mut i, mut dots, mut patch) = (0, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'.' => dots += 1,
            d @ b'0'..=b'9' if dots == 2 => patch = patch * 10 + (d - b'0') as u32,
            _ => {}
        }
        i += 1;
    }
    patch
}

/// Why a plugin cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("cannot read plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not WebAssembly at all.
    #[error("{origin} is not a WebAssembly file (no \\0asm header)")]
    NotWasm {
        /// File path or name.
        origin: String,
    },
    /// A core module instead of a component.
    #[error("{origin} is a core WebAssembly module, not a component: build it for wasm32-wasip2 or wrap it with `wasm-tools component new`")]
    CoreModule {
        /// File path or name.
        origin: String,
    },
    /// Built against another world or WIT version.
    #[error("{origin} does not implement volley:scenario/scenario@{WORLD_VERSION}: {details}")]
    WrongWorld {
        /// File path or name.
        origin: String,
        /// Missing exports and unsupported imports.
        details: String,
    },
    /// The component imports what the sandbox does not grant.
    #[error("{origin} wants imports the sandbox does not grant: {imports} (allow them with sandbox.allow-imports if you trust it; nothing is preopened or reachable)")]
    Denied {
        /// File path or name.
        origin: String,
        /// The refused imports.
        imports: String,
    },
    /// Compilation or linking failed.
    #[error("{origin}: {message}")]
    Wasm {
        /// File path or name.
        origin: String,
        /// wasmtime's message.
        message: String,
    },
}

/// How many VUs the engine's instance pool must hold, and the memory cap per instance.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Instances alive at once (VUs plus one for setup/teardown).
    pub instances: u32,
    /// Linear memory limit per instance, bytes.
    pub max_memory: u64,
}

/// A compiled, pre-linked scenario component.
pub struct Plugin {
    pub(crate) engine: Engine,
    pub(crate) pre: ScenarioPre<VuState>,
    /// Where the world's exports are in an instance (as `pre` has them, for instances made
    /// from `pre.instance_pre()` so the raw instance is kept).
    pub(crate) indices: ScenarioIndices,
    /// The optional `handle-summary` export (world `scenario-with-summary`, 0.1.4).
    pub(crate) handle_summary: Option<wasmtime::component::ComponentExportIndex>,
    origin: String,
    /// Whether the component imports `init` (0.1.4): each new instance runs its init context.
    pub(crate) runs_init: bool,
    /// The files `volley build` embedded for `open()`.
    pub(crate) files: Arc<Files>,
    /// Where the bundle's lines came from, for error messages.
    pub(crate) locations: Locations,
    /// The test's shared arrays; `None` until the options pass made them (its VU makes them).
    pub(crate) shared: Option<Arc<SharedData>>,
}

impl Plugin {
    /// Reads a plugin file and prepares it for `pool`.
    pub fn from_file(
        path: &Path,
        pool: Option<PoolSize>,
        sandbox: &Sandbox,
    ) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Plugin::from_bytes(&bytes, &path.display().to_string(), pool, sandbox)
    }

    /// Prepares component bytes; `origin` names them in errors. Without `pool`, instances are
    /// allocated on demand (used to read the plugin's options before the VU count is known).
    /// Imports outside `sandbox`'s policy are refused.
    pub fn from_bytes(
        bytes: &[u8],
        origin: &str,
        pool: Option<PoolSize>,
        sandbox: &Sandbox,
    ) -> Result<Plugin, PluginError> {
        check_header(bytes, origin)?;
        let wasm = |e: wasmtime::Error| PluginError::Wasm {
            origin: origin.to_string(),
            message: format!("{e:#}"),
        };
        let per_instance = core_instances_per_component(bytes);
        let cow = cow_image(bytes);
        let reservation = memory_reservation(pool);
        let config = engine_config(pool, per_instance, cow, reservation);
        // The compiled code is keyed by the engine's settings without the options pass's growth
        // reserve, which wasmtime does not count against compiled code: both engines share it.
        let key_engine = match pool {
            None => Some(Engine::new(&config).map_err(wasm)?),
            Some(_) => None,
        };
        let mut config = config;
        if pool.is_none() {
            // The options pass (no pool) may grow its memory to 1 GiB parsing a SharedArray's
            // file: without a reserve, every memory.grow past the reservation moves (copies) it.
            config.memory_reservation_for_growth(crate::limits::OPTIONS_PASS_MAX_MEMORY);
        }
        let engine = match (Engine::new(&config), pool) {
            (Ok(engine), _) => engine,
            // A system with less address space than x86-64's 128 TiB (a 39-bit arm64 kernel)
            // cannot reserve whole memories for the pool: checked accesses then.
            (Err(_), Some(pool)) if reservation == WHOLE_MEMORY => {
                let lean = lean_reservation(pool);
                Engine::new(&engine_config(Some(pool), per_instance, cow, lean)).map_err(wasm)?
            }
            (Err(e), _) => return Err(wasm(e)),
        };
        let malformed = |name: &str| PluginError::Wasm {
            origin: origin.to_string(),
            message: format!("its custom section '{name}' is malformed"),
        };
        let files = match custom_section(bytes, FILES_SECTION) {
            Some(payload) => Files::parse(payload).ok_or_else(|| malformed(FILES_SECTION))?,
            None => Files::default(),
        };
        let locations = match custom_section(bytes, locations::SECTION) {
            Some(payload) => {
                Locations::parse(payload).ok_or_else(|| malformed(locations::SECTION))?
            }
            None => Locations::default(),
        };
        let component =
            compile_cached(&engine, key_engine.as_ref().unwrap_or(&engine), bytes).map_err(wasm)?;
        check_world(&engine, &component, origin, sandbox)?;
        let runs_init = component
            .component_type()
            .imports(&engine)
            .any(|(name, _)| name.starts_with("volley:scenario/init@"));
        let mut linker: Linker<VuState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(wasm)?;
        Scenario::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)
            .map_err(wasm)?;
        let pre = linker.instantiate_pre(&component).map_err(wasm)?;
        let pre = ScenarioPre::new(pre).map_err(wasm)?;
        let indices = ScenarioIndices::new(pre.instance_pre()).map_err(wasm)?;
        let handle_summary = super::summary::export_index(&component);
        // Without the ticker a spinning guest would never yield, and no timeout could end it.
        start_epoch_ticker(&engine);
        Ok(Plugin {
            engine,
            pre,
            indices,
            handle_summary,
            origin: origin.to_string(),
            runs_init,
            files: Arc::new(files),
            locations,
            shared: None,
        })
    }

    /// Whether the component exports `handle-summary` (k6's `handleSummary`, world 0.1.4).
    pub fn has_handle_summary(&self) -> bool {
        self.handle_summary.is_some()
    }

    /// The shared arrays the options pass made, for this plugin's VUs to read.
    pub fn with_shared(mut self, shared: Arc<SharedData>) -> Plugin {
        self.shared = Some(shared);
        self
    }

    /// The file path or name the plugin came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

fn check_header(bytes: &[u8], origin: &str) -> Result<(), PluginError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(PluginError::NotWasm {
            origin: origin.to_string(),
        });
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(PluginError::CoreModule {
            origin: origin.to_string(),
        });
    }
    Ok(())
}

/// Lists what the component expects that this host does not provide, before linking.
fn check_world(
    engine: &Engine,
    component: &Component,
    origin: &str,
    sandbox: &Sandbox,
) -> Result<(), PluginError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let mut problems: Vec<String> = EXPORTS
        .iter()
        .filter(|e| !exports.iter().any(|x| x == *e))
        .map(|e| format!("missing export '{e}'"))
        .collect();
    let mut denied = Vec::new();
    for (name, item) in ty.imports(engine) {
        let supported = match name.split_once('/') {
            Some(("volley:scenario", rest)) => rest
                .split_once("@0.1.")
                .and_then(|(_, patch)| patch.parse::<u32>().ok())
                .is_some_and(|p| SUPPORTED_PATCHES.contains(&p)),
            Some((pkg, _)) if pkg.starts_with("wasi:") => {
                if !sandbox.allows_import(name) {
                    denied.push(name.to_string());
                }
                true
            }
            _ => false,
        };
        if !supported || !matches!(item.ty, ComponentItem::ComponentInstance(_)) {
            problems.push(format!("unsupported import '{name}'"));
        }
    }
    if !denied.is_empty() {
        return Err(PluginError::Denied {
            origin: origin.to_string(),
            imports: denied.join(", "),
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PluginError::WrongWorld {
            origin: origin.to_string(),
            details: problems.join(", "),
        })
    }
}

/// Module instantiations one instance of the component performs: the `instantiate` entries of
/// its core instance sections (nested components' too), at least 8. A Rust, C or JS component performs 3-4,
/// componentize-py's ~14 (libc, libpython, ... linked as separate modules), so the pool is sized
/// per component. Unreadable bytes give the minimum (compilation reports them).
fn core_instances_per_component(bytes: &[u8]) -> u32 {
    fn leb(bytes: &[u8], pos: &mut usize) -> Option<u32> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = *bytes.get(*pos)?;
            *pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return u32::try_from(value).ok();
            }
        }
        None
    }
    /// Skips `count` (name, one-byte kind, index) triples: instantiate args and inline exports.
    fn skip_named(bytes: &[u8], pos: &mut usize) -> Option<()> {
        for _ in 0..leb(bytes, pos)? {
            let len = leb(bytes, pos)? as usize;
            *pos = pos.checked_add(len)?.checked_add(1)?;
            leb(bytes, pos)?;
        }
        Some(())
    }
    /// Instantiations in one core instance section (`0x00 module args`; `0x01 exports` is not one).
    fn instantiations(bytes: &[u8], mut pos: usize) -> Option<u32> {
        let mut n = 0u32;
        for _ in 0..leb(bytes, &mut pos)? {
            let tag = *bytes.get(pos)?;
            pos += 1;
            if tag == 0 {
                leb(bytes, &mut pos)?;
                n = n.saturating_add(1);
            }
            skip_named(bytes, &mut pos)?;
        }
        Some(n)
    }
    const CORE_INSTANCE_SECTION: u8 = 2;
    /// A nested component (componentize-qjs wraps its pre-initialised core modules in one).
    const COMPONENT_SECTION: u8 = 4;
    /// Instantiations in the sections of the component `bytes` and of the components it nests
    /// (`depth` bounds the recursion: a hostile file cannot nest deep enough to exhaust the stack).
    fn count(bytes: &[u8], depth: u32) -> u32 {
        let mut total: u32 = 0;
        let mut pos = 8;
        while let Some(&id) = bytes.get(pos) {
            pos += 1;
            let Some(len) = leb(bytes, &mut pos) else {
                break;
            };
            let end = pos.saturating_add(len as usize);
            if id == CORE_INSTANCE_SECTION {
                total = total.saturating_add(instantiations(bytes, pos).unwrap_or(0));
            } else if id == COMPONENT_SECTION && depth < 8 {
                if let Some(nested) = bytes.get(pos..end) {
                    total = total.saturating_add(count(nested, depth + 1));
                }
            }
            pos = end;
        }
        total
    }
    let total = count(bytes, 0);
    // Between nested components wasmtime instantiates adapter modules of its own (fused
    // lifting and lowering), which the sections do not show: double the count for room.
    let nests = {
        let mut pos = 8;
        let mut found = false;
        while let Some(&id) = bytes.get(pos) {
            pos += 1;
            let Some(len) = leb(bytes, &mut pos) else {
                break;
            };
            found |= id == COMPONENT_SECTION;
            pos = pos.saturating_add(len as usize);
        }
        found
    };
    let total = if nests {
        total.saturating_mul(2)
    } else {
        total
    };
    total.max(8)
}

/// Components at least this large get copy-on-write memory images (see [`engine_config`]).
const COW_IMAGE_MIN_BYTES: usize = 1 << 20;

/// Whether instances of `bytes` map their memory image copy-on-write (see [`engine_config`]).
fn cow_image(bytes: &[u8]) -> bool {
    bytes.len() >= COW_IMAGE_MIN_BYTES
}

/// Kernel memory mappings one VU of component `bytes` takes.
pub fn maps_per_vu(bytes: &[u8]) -> u64 {
    if cow_image(bytes) {
        crate::limits::MAPS_PER_COW_VU
    } else {
        crate::limits::MAPS_PER_VU
    }
}

/// The engine for one component. `cow`: map each instance's initial memory from the compiled
/// image, copy-on-write, instead of copying its data segments in. That is what keeps a JS or
/// Python VU cheap (a 10+ MB pre-initialised heap is mapped, not copied), but every instance's
/// memory then takes two more kernel mappings (the image, and the rest after it): 6 per VU
/// instead of 4, and the kernel's `vm.max_map_count` (65,530 by default) ends a process near
/// 10,900 VUs instead of ~16,000. A Rust or C component's image is a few KB, cheaper to copy.
/// `reservation`: each linear memory's address space (see [`memory_reservation`]).
fn engine_config(pool: Option<PoolSize>, per_instance: u32, cow: bool, reservation: u64) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.memory_init_cow(cow);
    // The options pass (no pool) and a pool that reserves whole memories have the same
    // tunables, so their compiled code is shared.
    config.memory_reservation(reservation);
    config.memory_guard_size(MEMORY_GUARD);
    config.memory_reservation_for_growth(0);
    config.max_wasm_stack(super::fiber_stack::MAX_WASM);
    config.async_stack_size(super::fiber_stack::SIZE);
    config.epoch_interruption(true);
    // `VOLLEY_PERFMAP=1`: name the guest's compiled functions in /tmp/perf-PID.map for
    // `perf record` (bench/js-profile.sh). It changes no compiled code.
    if std::env::var_os("VOLLEY_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if let Some(pool) = pool {
        let n = pool.instances.max(1);
        let mut p = PoolingAllocationConfig::default();
        p.total_component_instances(n)
            .total_core_instances(n.saturating_mul(per_instance))
            .total_memories(n.saturating_mul(MEMORIES_PER_INSTANCE))
            .total_tables(n.saturating_mul(per_instance.saturating_sub(4)))
            .total_stacks(n)
            .max_memory_size(pool.max_memory as usize)
            .table_elements(20_000);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    config
}

/// A 32-bit linear memory reserved whole: every address a guest can form lands in the
/// reservation or its guard, so compiled code does no bounds check of its own on a load or a
/// store. Checked code ran an interpreter's object-heavy JavaScript ~1.7-2x slower
/// (docs/design/012-cpu-per-request.md).
const WHOLE_MEMORY: u64 = 4 << 30;
/// The reservation of a pool too large to reserve whole memories: each load and store is
/// bounds-checked, but 100,000 VUs fit in the address space.
const LEAN_MEMORY: u64 = 64 << 20;
/// Guard pages after a memory: accesses whose static offset is within it need no check.
const MEMORY_GUARD: u64 = 64 << 10;
/// Linear memories a pool reserves per instance (a JavaScript component has two).
const MEMORIES_PER_INSTANCE: u32 = 2;
/// Address space a pool's memories may reserve whole (of the 128 TiB a process has): ~10,000
/// instances.
const WHOLE_MEMORY_BUDGET: u64 = 80 << 40;

/// Each linear memory's reservation for `pool` ([`WHOLE_MEMORY`] for the options pass and for
/// pools that fit [`WHOLE_MEMORY_BUDGET`], else [`LEAN_MEMORY`] or the memory limit if larger).
fn memory_reservation(pool: Option<PoolSize>) -> u64 {
    let Some(pool) = pool else {
        return WHOLE_MEMORY;
    };
    let slots = u64::from(pool.instances.max(1)) * u64::from(MEMORIES_PER_INSTANCE);
    if slots.saturating_mul(WHOLE_MEMORY + MEMORY_GUARD) <= WHOLE_MEMORY_BUDGET {
        WHOLE_MEMORY
    } else {
        lean_reservation(pool)
    }
}

/// A memory's reservation when `pool` cannot reserve whole memories: [`LEAN_MEMORY`], or the
/// memory limit if larger.
fn lean_reservation(pool: PoolSize) -> u64 {
    LEAN_MEMORY.max(pool.max_memory)
}

/// Advances the engine's epoch every millisecond until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("volley-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
    if let Err(e) = spawned {
        crate::logging::host(
            crate::logging::Level::Warn,
            &format!("no epoch ticker ({e}): busy guests will not be preempted"),
        );
    }
}

/// Compiles `bytes`, or loads the result of an earlier compile from the on-disk cache.
/// A cache directory others can write is not used (see [`crate::cache::private_dir`]): the
/// component is compiled without it.
/// `key_engine`: an engine whose compatibility hash names the cached file (one compatible with
/// `engine`'s compiled code).
fn compile_cached(
    engine: &Engine,
    key_engine: &Engine,
    bytes: &[u8],
) -> wasmtime::Result<Component> {
    let Some(dir) = crate::cache::dir(crate::cache::COMPILED) else {
        return Component::new(engine, bytes);
    };
    let mut h = Sha256::new();
    h.update(bytes);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&key_engine.precompile_compatibility_hash(), &mut hasher);
    h.update(std::hash::Hasher::finish(&hasher).to_le_bytes());
    let key: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    let path = dir.join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (part of the name), into a directory only this user writes.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Ok(serialized) = component.serialize() {
        let tmp = dir.join(format!("{key}.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, serialized).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(component)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_supported_patches_end_at_the_hosts_own_wit_version() {
        assert_eq!(
            (patch_of("0.1.3"), patch_of("0.1.12"), patch_of("1.0.0")),
            (3, 12, 0)
        );
        let own: u32 = WORLD_VERSION.rsplit('.').next().unwrap().parse().unwrap();
        assert_eq!(*SUPPORTED_PATCHES.end(), own);
    }

    #[test]
    fn core_instances_are_counted_from_the_component_sections() {
        let header = b"\0asm\x0d\0\x01\0".to_vec();
        // A core instance section: 12 instantiations of module 0 with one arg ("a" = instance 1),
        // then one instance made of exports (not counted).
        let mut section = vec![13];
        for _ in 0..12 {
            section.extend([0x00, 0, 1, 1, b'a', 0x12, 1]);
        }
        section.extend([0x01, 1, 1, b'f', 0x00, 3]);
        let mut bytes = header.clone();
        bytes.push(2);
        bytes.push(section.len() as u8);
        bytes.extend(&section);
        bytes.extend([0, 2, 1, b'x']); // a custom section
        assert_eq!(core_instances_per_component(&bytes), 12);
        bytes.extend([2]);
        bytes.push(section.len() as u8);
        bytes.extend(&section);
        assert_eq!(core_instances_per_component(&bytes), 24);
        assert_eq!(core_instances_per_component(&header), 8);
        assert_eq!(core_instances_per_component(&[2, 0xff]), 8);
        let mut truncated = header;
        truncated.extend([2, 5, 3, 0x00]);
        assert_eq!(core_instances_per_component(&truncated), 8);
        // The same 24 inside a nested component section count too, doubled for the adapter
        // modules wasmtime adds between nested components.
        let mut outer = b"\0asm\x0d\0\x01\0".to_vec();
        outer.push(4);
        outer.extend([(bytes.len() & 0x7f) as u8 | 0x80, (bytes.len() >> 7) as u8]);
        outer.extend(&bytes);
        assert_eq!(core_instances_per_component(&outer), 48);
    }

    #[test]
    fn pools_reserve_whole_memories_while_the_address_space_holds_them() {
        let pool = |instances| {
            Some(PoolSize {
                instances,
                max_memory: 64 << 20,
            })
        };
        assert_eq!(memory_reservation(None), WHOLE_MEMORY);
        assert_eq!(memory_reservation(pool(10_001)), WHOLE_MEMORY);
        assert_eq!(memory_reservation(pool(100_001)), LEAN_MEMORY);
        let big_limit = Some(PoolSize {
            instances: 100_001,
            max_memory: 256 << 20,
        });
        assert_eq!(memory_reservation(big_limit), 256 << 20);
        // Both sides of the choice reserve their pool (one at a time: the first is most of the
        // address space), up to the ~16,000 VUs a process holds under the default map count.
        assert_eq!(memory_reservation(pool(12_001)), LEAN_MEMORY);
        for instances in [10_001, 12_001] {
            let config = engine_config(
                pool(instances),
                8,
                true,
                memory_reservation(pool(instances)),
            );
            if let Err(e) = Engine::new(&config) {
                panic!("a pool of {instances} instances: {e:#}");
            }
        }
    }

    #[test]
    fn header_checks_name_the_problem() {
        let e = check_header(b"hello world", "x.wasm")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x.wasm") && e.contains("not a WebAssembly file"),
            "{e}"
        );
        let core = b"\0asm\x01\0\0\0";
        let e = check_header(core, "m.wasm").unwrap_err().to_string();
        assert!(e.contains("core WebAssembly module"), "{e}");
        assert!(check_header(b"\0asm\x0d\0\x01\0", "c.wasm").is_ok());
    }
}
