"""Buckets `perf report --no-children --sort dso,sym -g none --stdio` lines (see js-profile.sh).

Usage: js_profile_buckets.py REPORT REQUESTS. Prints each bucket's share of the samples and, with the
sampling rate of js-profile.sh (2000 Hz), its CPU-microseconds per request; then the top symbols.
"""
import re
import sys

HZ = 2000
# First match wins: (bucket, test on dso, test on symbol).
BUCKETS = [
    ("kernel", lambda d, s: d.startswith("[kernel") or s.startswith("[k]"), None),
    ("guest", lambda d, s: d.endswith(".cwasm") or d.startswith("perf-") or d.startswith("[JIT]") or d == "[unknown]", None),
    ("host: component lift/lower", None, re.compile(r"component::(func|values|typed|matching)|Lower|Lift|lower|lift|canonical|ComponentType|typecheck")),
    ("host: wasmtime trampolines/runtime", None, re.compile(r"wasmtime|cranelift|trampoline|fiber|wasm_")),
    ("host: volley WIT imports", None, re.compile(r"volley::vu::")),
    ("host: volley metrics", None, re.compile(r"volley::metrics|hdrhistogram")),
    ("host: volley transport / hyper", None, re.compile(r"volley::transport|hyper|http::|h2::|httparse")),
    ("host: tokio", None, re.compile(r"tokio|mio::")),
    ("host: libc / alloc", lambda d, s: d.startswith("libc") or d.startswith("ld-linux"), re.compile(r"malloc|free|memcpy|memmove|memset|realloc|alloc::")),
]


def bucket(dso, sym):
    for name, dso_test, sym_re in BUCKETS:
        if dso_test is not None and dso_test(dso, sym):
            if name == "guest":
                # The guest's compiled code, by core module (wasm[N]) of the component; wasmtime
                # names the adapters it generates for lifting and lowering `adapter?NAME`.
                if "adapter" in sym:
                    return "guest: lift/lower adapters"
                m = re.match(r"wasm\[(\d+)\]", sym)
                return f"guest: core module wasm[{m.group(1)}]" if m else "guest: other"
            return name
        if sym_re is not None and sym_re.search(sym):
            return name
    return "host: other volley" if dso.startswith("volley") else f"other ({dso})"


def main():
    report, reqs = sys.argv[1], int(sys.argv[2])
    line_re = re.compile(r"^\s+([\d.]+)%\s+(\S+)\s+(\[.\])\s+(.*)$")
    totals, syms = {}, {}
    for line in open(report, errors="replace"):
        m = line_re.match(line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
        sym = sym if kind != "[k]" else "[k] " + sym
        b = bucket(dso, sym)
        totals[b] = totals.get(b, 0.0) + pct
        syms[(b, sym)] = syms.get((b, sym), 0.0) + pct
    samples = 0
    for line in open(report, errors="replace"):
        m = re.match(r"^# Samples: (\d+)([KM]?)", line)
        if m:
            samples = int(m.group(1)) * {"": 1, "K": 1000, "M": 1000000}[m.group(2)]
            break
    cpu_us = samples / HZ * 1e6
    print(f"{'bucket':<40} {'share':>7} {'us/request':>11}")
    for b, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{b:<40} {pct:6.1f}% {cpu_us * pct / 100 / max(reqs, 1):11.1f}")
    print(f"{'total (sampled CPU)':<40} {'100.0%':>7} {cpu_us / max(reqs, 1):11.1f}")
    print("\ntop symbols:")
    for (b, sym), pct in sorted(syms.items(), key=lambda kv: -kv[1])[:25]:
        print(f"  {pct:5.1f}%  {b:<34} {sym[:90]}")


main()
