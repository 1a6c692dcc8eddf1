// swift-tools-version: 6.1
//
// How to embed swift-tracehandler, as a package of your own would: the staged engine with a
// custom source, processor and reporter (EngineExample), and a real profile of the machine
// through a custom reporter (ProfilerExample). CI builds and runs both (scripts/test).
import PackageDescription

let package = Package(
    name: "tracehandler-embedding-examples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "swift-tracehandler", path: "../..")],
    targets: [
        .executableTarget(
            name: "EngineExample", dependencies: [.product(name: "TraceProfiler", package: "swift-tracehandler")]),
        .executableTarget(
            name: "ProfilerExample", dependencies: [.product(name: "TraceProfiler", package: "swift-tracehandler")]),
    ]
)
