// swift-tools-version: 6.0
//
// Instructions per trace on the per-trace paths, counted by callgrind: the one cost measure that
// a shared, noisy machine does not move. Built against the checkout in TRACEHANDLER_PATH (default:
// this repository), so that one revision can be compared with another in the same run:
//
//   scripts/instruction-counts 7c3b403          # that revision against the working tree
//
// PRE_STAGED_ENGINE=1 selects the names of revisions before the engine class was `StagedEngine`.
import Foundation
import PackageDescription

let environment = ProcessInfo.processInfo.environment
let checkout = environment["TRACEHANDLER_PATH"] ?? "../.."
let settings: [SwiftSetting] = environment["PRE_STAGED_ENGINE"] == nil ? [] : [.define("PRE_STAGED_ENGINE")]

let package = Package(
    name: "instruction-counts",
    dependencies: [.package(name: "swift-tracehandler", path: checkout)],
    targets: [
        .executableTarget(
            name: "InstructionCounts",
            dependencies: [
                .product(name: "KernelPath", package: "swift-tracehandler"),
                .product(name: "Symbolization", package: "swift-tracehandler"),
                .product(name: "SyntheticTraces", package: "swift-tracehandler"),
                .product(name: "TraceEngine", package: "swift-tracehandler"),
                .product(name: "TraceHandler", package: "swift-tracehandler"),
                .product(name: "TraceModel", package: "swift-tracehandler"),
                .product(name: "TraceReporters", package: "swift-tracehandler"),
            ],
            swiftSettings: settings
        )
    ]
)
