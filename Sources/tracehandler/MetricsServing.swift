import AgentConfiguration
import CommandLineSupport
import SelfMetrics

#if NetworkExport
import MetricsEndpoint
#endif

/// The `/metrics` endpoint of a profile run (`metrics.listen`): every scrape renders a fresh
/// snapshot of the counters the run summary prints. Serves until `stop()`, which the run calls
/// after its summary: a scrape during shutdown sees the drain.
struct MetricsServing {
    private let serving: Task<Void, Never>

    /// Throws when `address` is set in an agent built without the endpoint: checked before the
    /// run creates its output directory or loads a sampler.
    static func checkAvailable(_ address: ListenAddress?) throws {
        #if !NetworkExport
        if address != nil { throw unavailable }
        #endif
    }

    private static let unavailable = CommandFailure(
        "metrics.listen: this tracehandler was built without its NetworkExport trait (swift build --traits NetworkExport)")

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
        return MetricsServing(serving: Task {
            do {
                try await server.run { metrics.exposition(snapshot()) }
            } catch {
                writeStandardError("tracehandler: metrics: the endpoint stopped serving: \(error)\n")
            }
        })
        #else
        throw unavailable
        #endif
    }

    /// Stops serving: the listener and its connections close as the serving task ends.
    func stop() {
        serving.cancel()
    }
}
