// swift-tools-version: 6.1
//
// Coverage-guided fuzzing (libFuzzer) of the agent's parsers of untrusted bytes: the perf and BPF
// ring readers, raw trace records, ELF files, /proc/<pid>/maps, the configuration, DWARF CFI and the export spool's file names.
// A package of its own, so the main package's build and tests never link libFuzzer. Build and
// run through scripts/fuzz, which passes `--sanitize=fuzzer --sanitize=address` (every target,
// the main package's included, gets coverage and ASan; SwiftPM then leaves `main` to libFuzzer).
import PackageDescription

let fuzzers: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzPerfRing", [.product(name: "KernelPath", package: "swift-tracehandler"), .product(name: "TraceModel", package: "swift-tracehandler")]),
    ("FuzzRingBuffer", [.product(name: "KernelPath", package: "swift-tracehandler"), .product(name: "TraceModel", package: "swift-tracehandler")]),
    ("FuzzRawTrace", [.product(name: "TraceModel", package: "swift-tracehandler"), .product(name: "Symbolization", package: "swift-tracehandler")]),
    ("FuzzELF", [.product(name: "Symbolization", package: "swift-tracehandler")]),
    ("FuzzProcessMaps", [.product(name: "Symbolization", package: "swift-tracehandler")]),
    ("FuzzConfiguration", [.product(name: "AgentConfiguration", package: "swift-tracehandler"), .product(name: "TraceModel", package: "swift-tracehandler")]),
    ("FuzzCFI", [.product(name: "Unwinding", package: "swift-tracehandler")]),
    ("FuzzSpoolName", [.product(name: "ProfileExport", package: "swift-tracehandler")]),
]

let package = Package(
    name: "swift-tracehandler-fuzz",
    dependencies: [.package(name: "swift-tracehandler", path: "..")],
    targets: [.target(name: "FuzzSupport", dependencies: [.product(name: "TraceModel", package: "swift-tracehandler")])]
        + fuzzers.map { fuzzer in
            .executableTarget(
                name: fuzzer.name, dependencies: ["FuzzSupport"] + fuzzer.dependencies,
                // No `main` of Swift's: libFuzzer's drives `LLVMFuzzerTestOneInput`.
                swiftSettings: [.unsafeFlags(["-parse-as-library"])])
        }
)
