#if NetworkExport
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
public import ProfileExport
import SwiftProtobuf

#if canImport(Glibc)
import Glibc
#endif

/// Sends OTLP export requests to a receiver's `ProfilesService/Export` over gRPC (grpc-swift 2,
/// HTTP/2 on SwiftNIO), gzip-compressed unless turned off, and sorts each status as the OTLP
/// specification does (`ExportOutcome`).
///
/// The request is sent as the bytes `IntervalProfile.otlpRequests` encoded (a pass-through
/// serializer): the hand-written encoder is the one the files use and the outside judges check.
/// The response is decoded with the types generated from opentelemetry-proto, for its partial
/// success. RPCs do not wait for a connection: with the receiver down an attempt fails at once
/// as UNAVAILABLE, and the exporter's backoff — not the RPC — does the waiting.
public final class OTLPGRPCTransport: ExportTransport {
    private static let method = MethodDescriptor(
        fullyQualifiedService: "opentelemetry.proto.collector.profiles.v1development.ProfilesService", method: "Export")

    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let connections: Task<Void, Never>

    /// Connects (lazily, and again after each loss) to `endpoint`; with TLS, the receiver's
    /// certificate is checked against `certificateAuthorityFile` (PEM) or the system's roots.
    public init(endpoint: ExportEndpoint, certificateAuthorityFile: String? = nil, gzip: Bool = true) throws {
        let security: HTTP2ClientTransport.Posix.TransportSecurity =
            endpoint.usesTLS
            ? .tls { tls in
                if let certificateAuthorityFile { tls.trustRoots = .certificates([.file(path: certificateAuthorityFile, format: .pem)]) }
            }
            : .plaintext
        let transport = try HTTP2ClientTransport.Posix(
            target: Self.target(endpoint), transportSecurity: security,
            config: .defaults { config in
                config.compression = .init(algorithm: gzip ? .gzip : .none, enabledAlgorithms: [.gzip])
            })
        let client = GRPCClient(transport: transport)
        self.client = client
        connections = Task { try? await client.runConnections() }
    }

    /// The receiver as gRPC resolves it: an IP address as itself, a name through DNS. Through
    /// DNS an address would also become the TLS server name (SNI), which TLS does not allow: the
    /// handshake with `otlps://127.0.0.1:PORT` never began. As itself it is no server name, and
    /// the certificate is checked against the address.
    private static func target(_ endpoint: ExportEndpoint) -> any ResolvableTarget {
        var address = in6_addr()
        let (host, port) = (endpoint.host, endpoint.port)
        if inet_pton(AF_INET, host, &address) == 1 { return ResolvableTargets.IPv4.ipv4(address: host, port: port) }
        if inet_pton(AF_INET6, host, &address) == 1 { return ResolvableTargets.IPv6.ipv6(address: host, port: port) }
        return ResolvableTargets.DNS.dns(host: host, port: port)
    }

    public func export(_ request: [UInt8], timeout: Duration) async -> ExportOutcome {
        var options = CallOptions.defaults
        options.timeout = timeout
        options.waitForReady = false
        do {
            return try await client.unary(
                request: ClientRequest(message: request), descriptor: Self.method, serializer: PassThroughSerializer(),
                deserializer: LenientResponseDeserializer(), options: options
            ) { response in
                .accepted(rejectedProfiles: try response.message?.partialSuccess.rejectedProfiles ?? 0)
            }
        } catch let error as RPCError {
            // Cancelled by the exporter (its shutdown deadline): whatever status the call ended
            // with, the request was not refused and stays queued.
            if Task.isCancelled { return .retryable(status: "CANCELLED", message: error.message) }
            return Self.outcome(error.code, error.message)
        } catch {
            return .retryable(status: Task.isCancelled ? "CANCELLED" : "UNKNOWN", message: "\(error)")
        }
    }

    /// Closes the connection; requests in flight finish first.
    public func close() async {
        client.beginGracefulShutdown()
        await connections.value
    }

    /// OTLP's transient statuses are retried; every other one is final.
    static func outcome(_ code: RPCError.Code, _ message: String) -> ExportOutcome {
        let retryable: [RPCError.Code: String] = [
            .unavailable: "UNAVAILABLE", .resourceExhausted: "RESOURCE_EXHAUSTED", .deadlineExceeded: "DEADLINE_EXCEEDED",
            .cancelled: "CANCELLED", .aborted: "ABORTED", .outOfRange: "OUT_OF_RANGE", .dataLoss: "DATA_LOSS",
        ]
        if let status = retryable[code] { return .retryable(status: status, message: message) }
        let status = code == .invalidArgument ? "INVALID_ARGUMENT" : "\(code)".uppercased()
        return .rejected(status: status, message: message)
    }
}

/// Decodes the receiver's response, or nil when it does not decode: the status said OK, so the
/// request was taken, and an unreadable partial success must not turn it into a refusal.
struct LenientResponseDeserializer: MessageDeserializer {
    typealias Response = Opentelemetry_Proto_Collector_Profiles_V1development_ExportProfilesServiceResponse

    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> Response? {
        try? serializedMessageBytes.withUnsafeBytes { try Response(serializedBytes: Array($0)) }
    }
}

/// Hands already-encoded protobuf bytes to gRPC unchanged.
struct PassThroughSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}
#endif
