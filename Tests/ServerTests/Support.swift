import Foundation
import Model
import Training
import NPY
@testable import HTTP
@testable import Server
import Inference
import TestSupport

/// The repository root, found from this file's path (tests run from a checkout).
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func repo(_ p: String) -> String { repoRoot.appendingPathComponent(p).path }

/// The TF parity fixture's weights as a weights directory (made once per test run), so
/// that parity through HTTP does not depend on whatever weights the project ships.
let fixtureWeightsDir: String = {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ecg-fixture-weights-\(getpid())").path
    let (net, _) = try! WeightsDirectory.importTensors(from: repo("Tests/ModelTests/Fixtures/weights.npz"))
    _ = try! WeightsDirectory.write(
        net, to: dir, preprocessing: .init(filter: Preprocessing.highpassFilter, normalization: Preprocessing.windowNormalization),
        provenance: .init(description: "TF parity fixture (tests)", datasets: [], licenses: [], command: "tests", created: "tests"))
    return dir
}()

/// A server started in-process on 127.0.0.1, port 0, with the fixture weights.
final class TestServer: @unchecked Sendable {
    let server: HTTPServer
    let service: ECGService
    let queue: InferenceQueue
    let port: Int

    init(_ extra: [String] = [], affect: [AffectHead] = [], inputs: [HeadInputs] = [], weights: String = fixtureWeightsDir) throws {
        let o = try ECGServer.parse(["--weights", weights, "--port", "0", "--host", "127.0.0.1", "--openapi", repo("openapi.yaml")] + extra)
        let m = try Manifest.load(directory: o.weights)
        let net = try m.loadNetwork(directory: o.weights)
        (server, service, queue) = try ECGServer.assemble(
            network: net, manifest: m, affect: affect, inputs: inputs, configuration: o.configuration, logger: Logger(enabled: false))
        port = try server.start(host: o.host, port: 0)
        service.setReady(true)
    }

    deinit { server.beginDrain(); queue.stop() }
}

struct Response {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body)) }
    var errorCode: String? { ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String }
}

/// A blocking loopback client that speaks raw bytes, so tests can send anything.
final class RawClient {
    let fd: Int32
    var buf: [UInt8] = []

    /// Seconds a read may wait: longer under a sanitizer (ECG_SANITIZER set by
    /// scripts/sanitizers.sh), where the debug engine runs 5–20× slower.
    static let defaultTimeout = ProcessInfo.processInfo.environment["ECG_SANITIZER"] == nil ? 20 : 240

    init(port: Int, host: String = "127.0.0.1", timeout: Int = RawClient.defaultTimeout) throws {
        let v6 = host.contains(":")
        fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var tv = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var rc: Int32
        if v6 {
            var a = sockaddr_in6(); a.sin6_family = sa_family_t(AF_INET6); a.sin6_port = UInt16(port).bigEndian
            inet_pton(AF_INET6, host, &a.sin6_addr)
            rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, host, &a.sin_addr)
            rc = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard rc == 0 else { close(fd); throw SyscallError(call: "connect", errno: errno) }
    }
    deinit { close(fd) }

    func send(_ b: [UInt8]) {
        var off = 0
        while off < b.count {
            let n = b[off...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            off += n
        }
    }
    func send(_ s: String) { send(Array(s.utf8)) }

    /// Why the last read ended the response: "EOF", or the errno text of a failed recv.
    var lastReadError = ""

    /// Reads more bytes; false on EOF, error or timeout.
    func fill() -> Bool {
        var tmp = [UInt8](repeating: 0, count: 65536)
        let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { lastReadError = "EOF after \(buf.count) bytes" }
        if n < 0 { lastReadError = "recv: \(String(cString: strerror(errno))) after \(buf.count) bytes" }
        if n <= 0 { return false }
        buf.append(contentsOf: tmp[0..<n])
        return true
    }

    /// Reads one response (Content-Length framed); nil if the connection ended first.
    func response(head: Bool = false) -> Response? {
        while true {
            if let r = parse(head: head) { return r }
            if !fill() { return nil }
        }
    }

    private func parse(head isHead: Bool) -> Response? {
        guard let end = find([13, 10, 13, 10]) else { return nil }
        let head = String(decoding: buf[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        var h: [String: String] = [:]
        for l in head.dropFirst() {
            if let c = l.firstIndex(of: ":") { h[l[..<c].lowercased()] = l[l.index(after: c)...].trimmingCharacters(in: .whitespaces) }
        }
        if status == 100 { buf.removeFirst(end + 4); return Response(status: 100, headers: h, body: []) }
        let len = isHead ? 0 : Int(h["content-length"] ?? "0") ?? 0
        guard buf.count >= end + 4 + len else { return nil }
        let body = Array(buf[(end + 4)..<(end + 4 + len)])
        buf.removeFirst(end + 4 + len)
        return Response(status: status, headers: h, body: body)
    }

    private func find(_ pat: [UInt8]) -> Int? {
        guard buf.count >= pat.count else { return nil }
        for i in 0...(buf.count - pat.count) where buf[i] == pat[0] && Array(buf[i..<(i + pat.count)]) == pat { return i }
        return nil
    }

    /// True if the server closed the connection (EOF) within the timeout.
    func closedByPeer() -> Bool {
        var tmp = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = tmp.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }
}

func request(_ method: String, _ path: String, body: [UInt8] = [], headers: [String: String] = [:]) -> [UInt8] {
    var h = "\(method) \(path) HTTP/1.1\r\nHost: test\r\n"
    for (k, v) in headers { h += "\(k): \(v)\r\n" }
    if !body.isEmpty || method == "POST" { h += "Content-Length: \(body.count)\r\n" }
    return Array((h + "\r\n").utf8) + body
}

func jsonBody(_ o: Any) -> [UInt8] { [UInt8](try! JSONSerialization.data(withJSONObject: o)) }

let fixtureInputs: [Float] = try! NPY.read(path: repo("Tests/ModelTests/Fixtures/inputs.npy")).floats()
let fixtureEmbeddings: [Float] = try! NPY.read(path: repo("Tests/ModelTests/Fixtures/embedding.npy")).floats()

func relErr(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "\(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
    return d / m
}

/// Where SwiftPM put the executables (beside the test bundle).
let productsDir: URL = {
    var u = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.fileExists(atPath: u.appendingPathComponent("ecg-server").path) && u.path != "/" {
        u = u.deletingLastPathComponent()
    }
    return u
}()

/// Starts ecg-server with `args` and waits (up to `timeout` s) for it to stop on its own, as a
/// refused start-up must; if it is still running then, it is stopped and `started` is true.
/// Returns its exit status and what it wrote to stderr.
func startExpectingRefusal(
    _ args: [String], environment: [String: String] = [:], timeout: Double = 60
) throws
    -> (status: Int32, stderr: String, started: Bool)
{
    let p = Process()
    p.executableURL = URL(fileURLWithPath: Process_.serverBin)
    p.arguments = args
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let err = Pipe()
    p.standardError = err; p.standardOutput = FileHandle.nullDevice
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    waitUntil(timeout: deadline.timeIntervalSinceNow, poll: 0.01) { !p.isRunning }
    let started = p.isRunning
    if started { p.terminate() }
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), started)
}
