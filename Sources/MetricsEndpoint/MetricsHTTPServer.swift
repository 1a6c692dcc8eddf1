#if NetworkExport
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Serves the agent's metrics over HTTP/1.1: `GET /metrics` (and `HEAD`) answers with what
/// `exposition` renders at that moment, in the Prometheus text format; any other path is 404, any
/// other method 405. Connections stay open between scrapes (keep-alive) and close when idle.
///
/// Anyone who can reach the address can connect, so a connection is bounded: at most
/// `maximumConnections` at once (more are closed at accept), a request's head is bounded by the
/// HTTP decoder, and a connection idle for `idleTimeout` is closed.
public struct MetricsHTTPServer: Sendable {
    public typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The port bound (the one the system chose for port 0).
    public let port: Int
    private let listener: NIOAsyncChannel<Connection, Never>

    public static let maximumConnections = 16
    public static let idleTimeout = TimeAmount.seconds(30)

    /// Binds `host:port`; throws when the address cannot be bound (in use, not local, no permission).
    public static func bind(host: String, port: Int) async throws -> MetricsHTTPServer {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 32)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandlers(IdleStateHandler(allTimeout: idleTimeout), CloseWhenIdle())
                    return try Connection(wrappingChannelSynchronously: channel)
                }
            }
        guard let bound = listener.channel.localAddress?.port else {
            try? await listener.channel.close()
            throw MetricsServerError.noLocalPort
        }
        return MetricsHTTPServer(port: bound, listener: listener)
    }

    /// Answers scrapes until the task is cancelled; then closes the listener and every connection.
    public func run(exposition: @escaping @Sendable () -> [UInt8]) async throws {
        let open = OpenConnections()
        try await withThrowingDiscardingTaskGroup { group in
            try await listener.executeThenClose { connections in
                for try await connection in connections {
                    guard open.count.add(1, ordering: .relaxed).newValue <= Self.maximumConnections else {
                        open.count.subtract(1, ordering: .relaxed)
                        // Closed through the channel's owner: a NIOAsyncChannel must not be
                        // released with its writer open.
                        try? await connection.executeThenClose { _, _ in }
                        continue
                    }
                    group.addTask {
                        defer { open.count.subtract(1, ordering: .relaxed) }
                        try? await Self.serve(connection, exposition: exposition)
                    }
                }
            }
        }
    }

    private static func serve(_ connection: Connection, exposition: @Sendable () -> [UInt8]) async throws {
        try await connection.executeThenClose { requests, responses in
            var head: HTTPRequestHead?
            for try await part in requests {
                switch part {
                case .head(let request):
                    head = request
                case .body:
                    continue  // a scrape has none; whatever is sent is read and ignored
                case .end:
                    guard let request = head else { return }
                    head = nil
                    let response = MetricsResponse(request, exposition: exposition)
                    try await responses.write(.head(response.head))
                    if request.method != .HEAD && !response.body.isEmpty {
                        try await responses.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                    }
                    try await responses.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }
}

public enum MetricsServerError: Error, CustomStringConvertible {
    case noLocalPort

    public var description: String { "the listening socket has no local port" }
}

/// The answer to one request.
struct MetricsResponse {
    var head: HTTPResponseHead
    var body: [UInt8]

    init(_ request: HTTPRequestHead, exposition: () -> [UInt8]) {
        let path = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        if path != "/metrics" {
            (status, body) = (.notFound, Array("only /metrics is served\n".utf8))
        } else if request.method != .GET && request.method != .HEAD {
            (status, body) = (.methodNotAllowed, Array("GET or HEAD\n".utf8))
            headers.add(name: "Allow", value: "GET, HEAD")
        } else {
            (status, body) = (.ok, exposition())
        }
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
        head = HTTPResponseHead(version: request.version, status: status, headers: headers)
    }
}

/// The connections being served (the accept loop and each connection's task share it).
private final class OpenConnections: Sendable {
    let count = Atomic<Int>(0)
}

/// Closes a connection the idle-state handler found idle.
private final class CloseWhenIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
#endif
