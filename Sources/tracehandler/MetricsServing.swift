import AgentConfiguration
import CommandLineSupport
import ProfileExport
import SelfMetrics
import TraceProfiler
import TraceReporters

#if NetworkExport
import MetricsEndpoint
#endif

/// The `/metrics` endpoint of a profile run (`metrics.listen`): every scrape renders a fresh
/// snapshot of the counters the run summary prints. Serves until `stop()`, which the run calls
/// after its summary: a scrape during shutdown sees the drain.
struct MetricsServing {
    private let close: @Sendable () -> Void

    /// Throws when `address` is set in an agent built without the endpoint: checked before the
    /// run creates its output directory or loads a sampler.
    static func checkAvailable(_ address: ListenAddress?) throws {
        #if !NetworkExport
        if address != nil { throw unavailable }
        #endif
    }

    private static let unavailable = CommandFailure(
        "metrics.listen: this tracehandler was built without its NetworkExport trait (swift build --traits NetworkExport)")

    /// What the run has counted now, with the process's peak memory.
    static func snapshot(_ profile: ProfileStatistics?, export: ExportStatistics? = nil, intervals: IntervalTotals? = nil) -> AgentMetricsSnapshot {
        AgentMetricsSnapshot(profile: profile, export: export, intervals: intervals, peakResidentBytes: peakRSSMebibytes() * 1_048_576)
    }

    /// Binds `address` (nil: no endpoint) and serves `snapshot`; prints the address it serves.
    static func start(_ address: ListenAddress?, snapshot: @escaping @Sendable () -> AgentMetricsSnapshot) async throws -> MetricsServing? {
        guard let address else { return nil }
        #if NetworkExport
        let server: MetricsHTTPServer
        do {
            server = try await MetricsHTTPServer.bind(host: address.host, port: address.port)
        } catch {
            throw CommandFailure("metrics.listen: cannot serve metrics at \(address): \(error)")
        }
        let metrics = AgentMetrics()
        let host = address.host.contains(":") ? "[\(address.host)]" : address.host
        print("metrics: serving http://\(host):\(server.port)/metrics")
        Task {
            do {
                try await server.run { metrics.exposition(snapshot()) }
            } catch {
                writeStandardError("tracehandler: metrics: the endpoint stopped serving: \(error)\n")
            }
        }
        return MetricsServing(close: { server.close() })
        #else
        throw unavailable
        #endif
    }

    /// Stops serving: the listener closes, then its connections.
    func stop() {
        close()
    }
}
