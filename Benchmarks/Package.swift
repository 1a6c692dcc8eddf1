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
        .executableTarget(
            name: "RingBenchmarks",
            dependencies: [
                "CBaselineRing",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TraceEngine", package: "swift-tracehandler"),
                .product(name: "LinuxSystem", package: "swift-tracehandler"),
            ],
            path: "Benchmarks/RingBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
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
