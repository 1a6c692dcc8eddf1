// swift-tools-version: 6.3
//
// The micro and engine benchmarks (package-benchmark). A package of its own, as swift-nio does,
// so that users of the library never build the benchmark tool. Run from this directory:
//
//   swift package benchmark                      # everything
//   swift package benchmark --target RingBenchmarks
//
import PackageDescription

let package = Package(
    name: "swift-tracehandler-benchmarks",
    dependencies: [
        .package(name: "swift-tracehandler", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The C11 baseline that the Swift ring is measured against in the same run.
        .target(name: "CBaselineRing"),
        // Both rings moving the same elements: two threads (the benchmark, RingComparison's
        // rounds) or one (RingComparison's round trip, for instruction counts).
        .target(
            name: "RingWorkloads",
            dependencies: [
                "CBaselineRing",
                .product(name: "TraceEngine", package: "swift-tracehandler"),
                .product(name: "LinuxSystem", package: "swift-tracehandler"),
            ]
        ),
        .executableTarget(
            name: "RingBenchmarks",
            dependencies: ["RingWorkloads", .product(name: "Benchmark", package: "benchmark")],
            path: "Benchmarks/RingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // libbpf's perf-buffer reader, one buffer at a time (RingComparison's `replay`).
        .target(name: "CLibbpfReplay", linkerSettings: [.linkedLibrary("bpf")]),
        // scripts/compare-rings: instructions per element (the rings) and per record (the
        // perf-buffer readers) under callgrind, and interleaved wall-clock rounds. No allocation
        // counter in it: valgrind replaces malloc itself.
        .executableTarget(
            name: "RingComparison",
            dependencies: [
                "RingWorkloads", "CLibbpfReplay",
                .product(name: "KernelPath", package: "swift-tracehandler"),
                .product(name: "LinuxSystem", package: "swift-tracehandler"),
            ]
        ),
        .target(name: "CHitLoop"),
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                "CHitLoop",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TraceEngine", package: "swift-tracehandler"),
                .product(name: "TraceHandler", package: "swift-tracehandler"),
                .product(name: "TraceModel", package: "swift-tracehandler"),
                .product(name: "TraceReporters", package: "swift-tracehandler"),
                .product(name: "SyntheticTraces", package: "swift-tracehandler"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SymbolizationBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Symbolization", package: "swift-tracehandler"),
                .product(name: "TraceModel", package: "swift-tracehandler"),
            ],
            path: "Benchmarks/SymbolizationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A snapshot of the calling thread's stack, for the unwind benchmark.
        .target(name: "CStackCapture", cSettings: [.unsafeFlags(["-O2", "-fomit-frame-pointer"])]),
        .executableTarget(
            name: "UnwindBenchmarks",
            dependencies: [
                "CStackCapture",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Symbolization", package: "swift-tracehandler"),
                .product(name: "TraceEngine", package: "swift-tracehandler"),
                .product(name: "TraceHandler", package: "swift-tracehandler"),
                .product(name: "TraceModel", package: "swift-tracehandler"),
                .product(name: "TraceReporters", package: "swift-tracehandler"),
            ],
            path: "Benchmarks/UnwindBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MicroBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "KernelPath", package: "swift-tracehandler"),
                .product(name: "Symbolization", package: "swift-tracehandler"),
                .product(name: "SyntheticTraces", package: "swift-tracehandler"),
                .product(name: "TraceHandler", package: "swift-tracehandler"),
                .product(name: "TraceModel", package: "swift-tracehandler"),
                .product(name: "TraceReporters", package: "swift-tracehandler"),
            ],
            path: "Benchmarks/MicroBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
