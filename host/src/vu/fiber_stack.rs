//! A VU's fiber stack: its size, and giving back the pages a sleeping VU no longer uses.
//!
//! Every VU runs its iterations on a fiber stack of its own, and the kernel keeps each page of
//! it the VU once touched. An HTTP exchange polled from the guest's `http` call touches ~60 KB
//! below the call's frame; a VU then asleep in `sleep()` would keep those pages for as long
//! as it sleeps: ~60 KB per connected sleeping VU, most of its memory. [`release_below`],
//! called from the `sleep` import, gives them back.

/// Size of a VU's fiber stack (`Config::async_stack_size`).
pub const SIZE: usize = 1 << 20;
/// Most stack the guest's wasm frames may take (`Config::max_wasm_stack`); a deeper guest traps.
pub const MAX_WASM: usize = 512 << 10;
/// Stack kept below the caller's frame: room for `madvise`'s own call, which must not lose its
/// return address. The frames that then suspend the fiber fault a page or two back in; a 16 KB
/// margin kept ~12 KB more per sleeping VU resident (10,000 connected VUs: fiber stacks 195 →
/// 78 MB, peak RSS 882 → 762 MB) for no CPU it could measure.
const MARGIN: usize = 4 << 10;
/// How much stack below the margin is given back: the deepest host call (an HTTP exchange,
/// ~60 KB) with room.
const RELEASED: usize = 256 << 10;
/// Host frames above the wasm frames (wasmtime's entry, the import's own) stay well below this.
const HOST_FRAMES: usize = 128 << 10;
// The released range lies inside this fiber's own stack, above its guard page: everything
// above it is the margin, the host frames and at most MAX_WASM of wasm frames.
const _: () = assert!(MAX_WASM + HOST_FRAMES + MARGIN + RELEASED <= SIZE);

/// Gives back the pages of the current fiber stack from [`MARGIN`] to `MARGIN + RELEASED` below
/// this frame: they hold no live frame, and read as zeros when touched again.
///
/// Call it only from an async host import called by a guest (so on the guest's fiber stack,
/// with at most [`MAX_WASM`] of wasm frames and [`HOST_FRAMES`] of host frames above): the
/// range then lies inside this fiber's stack, which is what makes this sound.
#[inline(never)]
pub fn release_below() {
    let marker = 0u8;
    let here = std::ptr::addr_of!(marker) as usize;
    let page = 4096;
    let Some(top) = here.checked_sub(MARGIN) else {
        return;
    };
    let top = top & !(page - 1);
    let Some(bottom) = top.checked_sub(RELEASED) else {
        return;
    };
    // SAFETY: [bottom, top) is below every live frame of this fiber and inside its stack (see
    // the assertion above); MADV_DONTNEED on private anonymous memory only drops its contents.
    unsafe {
        libc::madvise(bottom as *mut libc::c_void, RELEASED, libc::MADV_DONTNEED);
    }
    std::hint::black_box(&marker);
}
