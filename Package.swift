// swift-tools-version: 6.1
//
// swift-tracehandler: the trace-handling core of an eBPF continuous profiler.
//
// Module map (see design/architecture.md):
//   CTraceRecord     C: the raw trace record shared with the BPF side, and the reference XXH3.
//   TraceModel       The core: raw traces, frames, hashes, converted traces, event metadata; the
//                    processor and reporter protocols, LRUCache, HandleTrace's reporting step.
//   Unwinding        Pure: DWARF call-frame information (.eh_frame, .debug_frame) → unwind tables,
//                    and the walker of copied user stacks (the unwind stage's work).
//   TraceHandler     Pure: the Go-faithful tracehandler (handleTrace, start, Times).
//   TraceEngine      The staged engine: SPSC rings, slot pools, the four stages, backpressure.
//   LinuxSystem      Typed wrappers of the Linux calls the engine needs (threads, pinning, futex).
//   CLinuxShims      C: what Swift cannot call directly (variadic syscall, CPU_SET macros).
//   KernelPath       The poll stage: the BPF sampler and load generator (libbpf), per-CPU perf
//                    buffers and BPF ring buffers, read through io_uring; the drain of the
//                    sampler's in-kernel counts (kernel.aggregation = bpf).
//   CBPFObjects      C: the BPF programs of bpf/, compiled and embedded by scripts/build-bpf.
//   CSystemLibraries System libraries libbpf, liburing and libelf, in one module.
//   CLibbpfBaseline  C: libbpf consumers, the anchors of the kernel-path benchmark (perf_buffer__poll,
//                    counting) and of the agent benchmark (kallsyms names, a folded-stack table).
//   Symbolization    The real TraceProcessor: /proc/<pid>/maps, ELF symbols (libelf), kallsyms,
//                    demangling; caches bounded by configuration.
//   CDemangle        C: swift_demangle and __cxa_demangle, declared for Swift.
//   CAllocationCounter  C: allocation functions that count calls (tracehandler-bench: allocations
//                    per trace); linked into the benchmark program only.
//   AgentConfiguration  The agent's configuration: keys, defaults file, loading from a file, the
//                    environment and flags (swift-configuration), validation.
//   TraceProfiler    Profiler: sampler + poll stage + engine + symbolizer + unwinder as a Service;
//                    re-exports what an embedder needs (one import).
//   TraceServices    swift-service-lifecycle's Service for StagedEngine and Profiler (apart, so
//                    that the agent links no ServiceLifecycle).
//   TraceReporters   Reporters that turn reported traces into output (folded stacks, pprof, OTLP), and
//                    the continuous profile's intervals (IntervalProfileReporter).
//   ProfileExport    The export stage of a continuous profile: byte-bounded queue, retries, splitting,
//                    shutdown deadline, spool (no network code: an ExportTransport does the sending).
//   OTLPGRPCExport   The OTLP/gRPC transport (grpc-swift 2) and the types generated from
//                    opentelemetry-proto; built with the NetworkExport trait (--traits NetworkExport).
//   SelfMetrics      The agent's own counters as a Prometheus exposition (swift-prometheus), from
//                    the statistics the run summary prints.
//   MetricsEndpoint  The HTTP/1.1 server of `/metrics` (SwiftNIO); built with the NetworkExport trait.
//   CZlib            System library zlib: gzip for pprof profiles.
//   CLZMA            System library liblzma: the xz-compressed mini symbol table (.gnu_debugdata).
//   SyntheticTraces  A deterministic generator of raw traces, for the main job, tests and benchmarks.
//   CommandLineSupport  What both programs share: --config/--set, the progress line, failures.
//   tracehandler     The agent executable.
//   tracehandler-bench  The benchmark program (synthetic, sweep, kernel, otlp-encoding): apart from the agent,
//                    so that the agent links no baseline, allocation counter or histogram.
import PackageDescription

let package = Package(
    name: "swift-tracehandler",
    products: [
        .library(name: "TraceModel", targets: ["TraceModel"]),
        .library(name: "Unwinding", targets: ["Unwinding"]),
        .library(name: "TraceHandler", targets: ["TraceHandler"]),
        .library(name: "TraceReporters", targets: ["TraceReporters"]),
        .library(name: "SyntheticTraces", targets: ["SyntheticTraces"]),
        .library(name: "TraceEngine", targets: ["TraceEngine"]),
        .library(name: "LinuxSystem", targets: ["LinuxSystem"]),
        .library(name: "KernelPath", targets: ["KernelPath"]),
        .library(name: "Symbolization", targets: ["Symbolization"]),
        .library(name: "AgentConfiguration", targets: ["AgentConfiguration"]),
        .library(name: "TraceProfiler", targets: ["TraceProfiler"]),
        .library(name: "TraceServices", targets: ["TraceServices"]),
        .library(name: "ProfileExport", targets: ["ProfileExport"]),
        .executable(name: "tracehandler", targets: ["tracehandler"]),
        .executable(name: "tracehandler-bench", targets: ["tracehandler-bench"]),
    ],
    traits: [
        // Off by default: gRPC, SwiftNIO and BoringSSL add about 10 minutes to every build of the
        // package on a 2-vCPU machine (design/export.md). `--traits NetworkExport` builds them in.
        .trait(
            name: "NetworkExport",
            description: "The agent's network endpoints: OTLP/gRPC export (grpc-swift 2) and the /metrics server (SwiftNIO). "
                + "Off, the library and the agent build without gRPC and SwiftNIO."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "YAML", "CommandLineArguments"]),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .target(name: "CTraceRecord"),
        .target(name: "Unwinding"),
        .target(name: "TraceModel", dependencies: ["CTraceRecord"]),
        .target(
            name: "TraceHandler",
            dependencies: ["TraceModel", .product(name: "Metrics", package: "swift-metrics")]
        ),
        .target(name: "TraceReporters", dependencies: ["TraceModel", "CZlib"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CLZMA", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .target(name: "CLinuxShims"),
        .target(name: "LinuxSystem", dependencies: ["CLinuxShims"]),
        .target(
            name: "TraceEngine",
            dependencies: [
                "TraceModel", "LinuxSystem", "CLinuxShims", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "SyntheticTraces", dependencies: ["TraceModel"]),
        .systemLibrary(name: "CSystemLibraries", pkgConfig: "libbpf", providers: [.apt(["libbpf-dev", "liburing-dev", "libelf-dev"])]),
        .target(name: "CBPFObjects"),
        .target(name: "CLibbpfBaseline", dependencies: ["CSystemLibraries", "CTraceRecord"]),
        .target(name: "CDemangle", linkerSettings: [.linkedLibrary("stdc++")]),
        .target(name: "CAllocationCounter"),
        .target(
            name: "AgentConfiguration",
            dependencies: [
                "TraceModel", "TraceEngine", "KernelPath", "Symbolization", "LinuxSystem", "TraceProfiler", "ProfileExport",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "Symbolization",
            dependencies: [
                "TraceModel", "LinuxSystem", "CLinuxShims", "CSystemLibraries", "CDemangle", "CZlib", "CLZMA",
                "Unwinding",
            ]
        ),
        .target(
            name: "KernelPath",
            dependencies: ["TraceModel", "TraceEngine", "LinuxSystem", "CLinuxShims", "CSystemLibraries", "CBPFObjects"]
        ),
        .target(
            name: "CommandLineSupport",
            dependencies: [
                "AgentConfiguration", "LinuxSystem", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(
            name: "TraceProfiler",
            dependencies: [
                "TraceModel", "TraceHandler", "TraceEngine", "KernelPath", "Symbolization", "LinuxSystem",
                .product(name: "CoreMetrics", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "ProfileExport", dependencies: ["TraceModel", "TraceReporters", "LinuxSystem"]),
        .target(
            name: "OTLPGRPCExport",
            dependencies: [
                "ProfileExport",
                .product(name: "GRPCCore", package: "grpc-swift-2", condition: .when(traits: ["NetworkExport"])),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport", condition: .when(traits: ["NetworkExport"])),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf", condition: .when(traits: ["NetworkExport"])),
                .product(name: "SwiftProtobuf", package: "swift-protobuf", condition: .when(traits: ["NetworkExport"])),
            ]
        ),
        .target(
            name: "SelfMetrics",
            dependencies: [
                "TraceProfiler", "TraceEngine", "KernelPath", "Symbolization", "ProfileExport", "TraceReporters",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "MetricsEndpoint",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio", condition: .when(traits: ["NetworkExport"])),
                .product(name: "NIOPosix", package: "swift-nio", condition: .when(traits: ["NetworkExport"])),
                .product(name: "NIOHTTP1", package: "swift-nio", condition: .when(traits: ["NetworkExport"])),
            ]
        ),
        .target(
            name: "TraceServices",
            dependencies: [
                "TraceModel", "TraceEngine", "TraceProfiler",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "tracehandler",
            dependencies: [
                "TraceModel", "TraceHandler", "TraceReporters", "SyntheticTraces", "TraceEngine", "KernelPath",
                "LinuxSystem", "Symbolization", "AgentConfiguration", "CommandLineSupport", "TraceProfiler", "ProfileExport",
                "SelfMetrics",
                .target(name: "OTLPGRPCExport", condition: .when(traits: ["NetworkExport"])),
                .target(name: "MetricsEndpoint", condition: .when(traits: ["NetworkExport"])),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "tracehandler-bench",
            dependencies: [
                "TraceModel", "TraceHandler", "TraceReporters", "SyntheticTraces", "TraceEngine", "KernelPath", "Symbolization",
                "LinuxSystem", "CLibbpfBaseline", "AgentConfiguration", "CAllocationCounter", "CommandLineSupport",
                .target(name: "OTLPGRPCExport", condition: .when(traits: ["NetworkExport"])),
                .product(name: "SwiftProtobuf", package: "swift-protobuf", condition: .when(traits: ["NetworkExport"])),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "TraceModelTests", dependencies: ["TraceModel", "SyntheticTraces"]),
        .testTarget(name: "SymbolizationTests", dependencies: ["Symbolization", "TraceModel", "LinuxSystem"]),
        .testTarget(name: "LinuxSystemTests", dependencies: ["LinuxSystem"]),
        .testTarget(
            name: "TraceProfilerTests",
            dependencies: [
                "TraceProfiler", "KernelPath", "LinuxSystem", "TraceServices", "TraceReporters",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "UnwindingTests", dependencies: ["Unwinding"]),
        .testTarget(name: "SelfMetricsTests", dependencies: ["SelfMetrics", "TraceProfiler", "TraceEngine", "ProfileExport", "TraceReporters"]),
        .testTarget(name: "ProfileExportTests", dependencies: ["ProfileExport", "TraceModel", "TraceReporters", "LinuxSystem"]),
        .testTarget(
            name: "AgentConfigurationTests",
            dependencies: ["AgentConfiguration", "TraceModel", "TraceEngine", "KernelPath", "LinuxSystem"]
        ),
        .testTarget(
            name: "KernelPathTests",
            dependencies: ["KernelPath", "Symbolization", "TraceModel", "TraceHandler", "TraceEngine", "TraceReporters", "LinuxSystem"]
        ),
        .testTarget(
            name: "TraceEngineTests",
            dependencies: [
                "TraceModel", "TraceHandler", "TraceEngine", "SyntheticTraces", "LinuxSystem", "TraceServices",
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
                .product(name: "MetricsTestKit", package: "swift-metrics"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "TraceHandlerTests",
            dependencies: [
                "TraceModel", "TraceHandler", "TraceReporters", "SyntheticTraces", "CZlib",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
    ]
)
