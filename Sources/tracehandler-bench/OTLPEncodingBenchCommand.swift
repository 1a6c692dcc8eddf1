import ArgumentParser
import CommandLineSupport
import Synchronization
import TraceModel
import TraceReporters

#if NetworkExport
import OTLPGRPCExport
import SwiftProtobuf
#endif

/// `tracehandler-bench otlp-encoding`: the cost of encoding one interval as an OTLP request with
/// the hand-written writer (what files and export use) against swift-protobuf's generated types
/// (opentelemetry-proto), in the same run. The generated side is timed from a message already
/// built (decoded from the writer's bytes), so it counts serialization only: the cost of building
/// that message from the profile's tables would come on top.
struct OTLPEncodingBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "otlp-encoding",
        abstract: "Time the hand-written OTLP writer against swift-protobuf's generated types on one interval (needs --traits NetworkExport)."
    )

    @Option(help: "Distinct stacks in the interval.") var stacks = 5_000
    @Option(help: "Frames a stack.") var depth = 24
    @Option(help: "Encodings timed on each side.") var rounds = 50

    func run() throws {
        #if NetworkExport
        let interval = Self.interval(stacks: stacks, depth: depth)
        let written = interval.encodedOTLP()
        let message = try Opentelemetry_Proto_Collector_Profiles_V1development_ExportProfilesServiceRequest(serializedBytes: written)
        let generated: [UInt8] = try message.serializedBytes()
        print("one interval: \(interval.sampleCount) samples, \(stacks) stacks of \(depth) frames; "
            + "hand-written \(written.count) bytes, generated \(generated.count) bytes")
        // Alternated, so that the machine's noise falls on both sides alike.
        var handWritten: [Double] = []
        var serialized: [Double] = []
        var built: [Double] = []
        for _ in 0..<rounds {
            handWritten.append(Self.seconds { _ = interval.encodedOTLP() })
            serialized.append(try Self.seconds { let _: [UInt8] = try message.serializedBytes() })
            // What making the message's ~10^5 structs, strings and arrays costs, by the closest
            // measure at hand: decoding them from the same bytes.
            built.append(try Self.seconds {
                _ = try Opentelemetry_Proto_Collector_Profiles_V1development_ExportProfilesServiceRequest(serializedBytes: written)
            })
        }
        let (a, b, c) = (Self.median(handWritten), Self.median(serialized), Self.median(built))
        print(String(format: "median of %d: hand-written %.2f ms (tables interned and written); generated: serialization "
            + "%.2f ms, building the message (as decoding it) %.2f ms; generated serialization / hand-written = %.2f",
            rounds, a * 1e3, b * 1e3, c * 1e3, b / a))
        #else
        throw CommandFailure("otlp-encoding compares against the generated types: build with --traits NetworkExport")
        #endif
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = MonotonicClock.nanoseconds()
        try body()
        return Double(MonotonicClock.nanoseconds() - start) / 1e9
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    /// One ended interval of `stacks` distinct stacks, counted 1 to 10 times, with C++-length names.
    static func interval(stacks: Int, depth: Int) -> IntervalProfile {
        let ended = Mutex<IntervalProfile?>(nil)
        let reporter = IntervalProfileReporter(samplingPeriod: .milliseconds(10), retainedTraces: 2 * stacks, start: UnixTime64(rawValue: 1)) {
            interval in ended.withLock { $0 = interval }
        }
        let file = FileID(high: 1, low: 2)
        for stack in 0..<stacks {
            var trace = Trace()
            for frame in 0..<depth {
                // Frames shared between stacks, as real ones are: a tree of functions.
                let function = frame == 0 ? stack : (stack >> frame) + frame * 1_000
                trace.append(file: file, lineno: UInt64(0x400000 + function * 64), type: .native, mappingStart: 0x400000,
                             mappingEnd: 0x9000000, symbol: "namespace::Component\(function % 97)::operation_\(function)(int, char const*)")
            }
            trace.updateHash()
            reporter.reportFramesForTrace(trace)
            let meta = TraceEventMeta(timestamp: UnixTime64(rawValue: 0), comm: Comm("app"), pid: UInt32(stack % 7 + 1), tid: 1, cpu: 0)
            reporter.reportCountForTrace(trace.hash, count: UInt16(stack % 10 + 1), meta: meta)
        }
        reporter.endInterval(at: UnixTime64(rawValue: 5_000_000_000))
        return ended.withLock { $0! }
    }
}
