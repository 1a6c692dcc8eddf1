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
/// HTTP decoder, a connection idle for `idleTimeout` is closed and none lives longer than
/// `maximumLifetime`, however it trickles bytes. A request the server would have to read on from
/// — a body, an `Upgrade`, `CONNECT` — is refused and its connection closed at its head: after an
/// upgrade the decoder stops parsing and would keep whatever else came.
public struct MetricsHTTPServer: Sendable {
    public typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// The port bound (the one the system chose for port 0).
    public let port: Int
    private let listener: NIOAsyncChannel<Connection, Never>

    public static let maximumConnections = 16
    public static let idleTimeout = TimeAmount.seconds(10)
    public static let maximumLifetime = Duration.seconds(60)

    /// Binds `host:port`; throws when the address cannot be bound (in use, not local, no permission).
    public static func bind(host: String, port: Int) async throws -> MetricsHTTPServer {
        let listener = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // A client that sends its request and shuts down its side still gets the answer.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
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

    /// Stops accepting: `run` then ends its connections and returns. (Cancelling `run`'s task
    /// instead would drop connections accepted but not yet taken, unclosed, which traps.)
    public func close() {
        listener.channel.close(promise: nil)
    }

    /// Answers scrapes until `close()`; then ends every connection and returns.
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
                        // Each connection ends by its own close, its lifetime, or the listener's
                        // close (below): cancelled, its loop ends and `executeThenClose` closes it.
                        await withTaskGroup { lifetime in
                            lifetime.addTask { try? await Self.serve(connection, exposition: exposition) }
                            lifetime.addTask {
                                try? await Task.sleep(for: Self.maximumLifetime)
                                connection.channel.close(promise: nil)
                            }
                            await lifetime.next()
                            lifetime.cancelAll()
                        }
                    }
                }
            }
            group.cancelAll()  // the listener closed: so do the connections
        }
    }

    private static func serve(_ connection: Connection, exposition: @Sendable () -> [UInt8]) async throws {
        try await connection.executeThenClose { requests, responses in
            var head: HTTPRequestHead?
            var answeredLast = false
            for try await part in requests {
                // After the answer to a request that ends the connection, wait for the client to
                // close: closing first could cut off the answer's unsent bytes.
                if answeredLast { continue }
                switch part {
                case .head(let request):
                    if let refusal = MetricsResponse(refusing: request) {
                        try await responses.write(.head(refusal.head))
                        try await responses.write(.body(.byteBuffer(ByteBuffer(bytes: refusal.body))))
                        try await responses.write(.end(nil))
                        return
                    }
                    head = request
                case .body:
                    continue  // of at most `Content-Length: 0`: any other body was refused at the head
                case .end:
                    guard let request = head else { return }
                    head = nil
                    let response = MetricsResponse(request, exposition: exposition)
                    try await responses.write(.head(response.head))
                    if request.method != .HEAD && !response.body.isEmpty {
                        try await responses.write(.body(.byteBuffer(ByteBuffer(bytes: response.body))))
                    }
                    try await responses.write(.end(nil))
                    answeredLast = !request.isKeepAlive
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

    /// The answer that ends a request the server does not read on from, nil for any other: one
    /// with a body (a scrape has none), an upgrade, `CONNECT`.
    init?(refusing request: HTTPRequestHead) {
        let status: HTTPResponseStatus
        let headers = request.headers
        if request.method == .CONNECT {
            status = .methodNotAllowed
        } else if headers.contains(name: "upgrade") {
            status = .badRequest
        } else if headers.contains(name: "transfer-encoding") || headers["content-length"].contains(where: { $0 != "0" }) {
            status = .payloadTooLarge
        } else {
            return nil
        }
        body = Array("GET or HEAD /metrics, without a body or an upgrade\n".utf8)
        var answer = HTTPHeaders()
        answer.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        answer.add(name: "Content-Length", value: String(body.count))
        answer.add(name: "Connection", value: "close")
        head = HTTPResponseHead(version: .http1_1, status: status, headers: answer)
    }

    init(_ request: HTTPRequestHead, exposition: () -> [UInt8]) {
        var target = Substring(request.uri)
        // The absolute form (`http://host:port/metrics`), which HTTP/1.1 servers must accept.
        if let scheme = target.firstRange(of: "://"), target[..<scheme.lowerBound].allSatisfy(\.isLetter) {
            let authority = target[scheme.upperBound...]
            target = authority.firstIndex(of: "/").map { authority[$0...] } ?? "/"
        }
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
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
