import Foundation
import TestSupport
import Testing
@testable import HTTP

/// A request text and what the parser must answer.
struct ParserCase: CustomTestStringConvertible, Sendable {
    let name: String
    let raw: [UInt8]
    /// nil: a valid request; else the status of the refusal.
    let status: Int?
    var testDescription: String { name }

    init(_ name: String, _ text: String, _ status: Int?) { self.name = name; raw = Array(text.utf8); self.status = status }
    init(_ name: String, bytes: [UInt8], _ status: Int?) { self.name = name; raw = bytes; self.status = status }
}

let small = HTTPLimits(maxRequestLine: 200, maxHeaderBytes: 600, maxHeaderCount: 20, maxBodyBytes: 1000)

/// Malformed and hostile requests (after swift-nio's parser tests) and valid ones.
let parserCases: [ParserCase] = {
    var c: [ParserCase] = [
        .init("simple GET", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", nil),
        .init("HTTP/1.0 without Host", "GET /health HTTP/1.0\r\n\r\n", nil),
        .init("POST with body", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", nil),
        .init(
            "chunked body", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;ext=1\r\n!!!\r\n0\r\nX-Trailer: y\r\n\r\n",
            nil),
        .init("leading empty line", "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", nil),
        .init("expect 100-continue", "POST /embed HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", nil),
        .init("HTTP/0.9 request line", "GET /\r\n\r\n", 400),
        .init("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
        .init("HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505),
        .init("lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400),
        .init("garbage request line", "HELLO\r\n\r\n", 400),
        .init("double space in request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        .init("absolute-form target", "GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        .init("asterisk target", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        .init("bad method chars", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        .init("missing Host", "GET / HTTP/1.1\r\n\r\n", 400),
        .init("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        .init("bad Content-Length", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        .init("negative Content-Length", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        .init("Content-Length list 4, 5", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 4, 5\r\n\r\nabcd", 400),
        .init("duplicate Content-Length", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd", 400),
        .init(
            "Content-Length with Transfer-Encoding", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        .init("unknown Transfer-Encoding", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        .init("chunked in HTTP/1.0", "POST /embed HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),  // RFC 9112 §6.1 (was 501, issue #10)
        .init("bad chunk size", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        .init("empty chunk size", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400),
        .init("huge chunk size", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFF\r\n", 400),
        .init("chunk over body limit", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7D0\r\n", 413),
        .init("chunk without CRLF after data", "POST /embed HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY", 400),
        .init("POST without length", "POST /embed HTTP/1.1\r\nHost: x\r\n\r\n", 411),
        .init("Content-Length over limit", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413),
        .init("Content-Length overflow", "POST /embed HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
        .init("request line too long", "GET /" + String(repeating: "a", count: 300) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        .init("header section too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "b", count: 700) + "\r\n\r\n", 431),
        .init("too many headers", "GET / HTTP/1.1\r\nHost: x\r\n" + (0..<25).map { "X-\($0): y\r\n" }.joined() + "\r\n", 431),
        .init("space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        .init("header without colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400),
        .init("obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400),
        .init("bare LF line ends", "GET / HTTP/1.1\nHost: x\n\n", 400),
        .init("NUL in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n", 400),
        .init("DEL in header value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{7F}b\r\n\r\n", 400),
        .init("empty header name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400),
        .init("unsupported Expect", "POST /embed HTTP/1.1\r\nHost: x\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", 417),
        .init("control char in target", "GET /a\u{1}b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ]
    // Every byte that is not a tchar, in a header name.
    for b in 0...255 where !HTTPParser.isTChar(UInt8(b)) && b != UInt8(ascii: ":") && b != 0x0D && b != 0x0A {
        c.append(.init("byte \(b) in header name", bytes: Array("GET / HTTP/1.1\r\nHost: x\r\nX".utf8) + [UInt8(b)] + Array("Y: z\r\n\r\n".utf8), 400))
    }
    return c
}()

func runParser(_ bytes: [UInt8], byteByByte: Bool, limits: HTTPLimits = small) -> (requests: [HTTPRequest], error: HTTPError?) {
    var p = HTTPParser(limits: limits)
    var reqs: [HTTPRequest] = []
    let pieces: [[UInt8]] = byteByByte ? bytes.map { [$0] } : [bytes]
    do {
        for piece in pieces {
            p.feed(piece)
            while let r = try p.next() { reqs.append(r) }
        }
    } catch let e as HTTPError { return (reqs, e) } catch { return (reqs, nil) }
    return (reqs, nil)
}

@Suite struct Parser {
    @Test("each case, fed whole and byte by byte", arguments: parserCases)
    func table(_ c: ParserCase) {
        for bb in [false, true] {
            let (reqs, err) = runParser(c.raw, byteByByte: bb)
            if let s = c.status {
                #expect(err?.status == s, "\(c.name) (byte by byte: \(bb)): got \(String(describing: err)) after \(reqs.count) requests")
            } else {
                #expect(err == nil, "\(c.name): \(String(describing: err))")
                #expect(reqs.count == 1, "\(c.name): \(reqs.count) requests")
            }
        }
    }

    @Test("there are at least 40 malformed cases")
    func coverage() { #expect(parserCases.filter { $0.status != nil }.count >= 40) }

    @Test("pipelined requests come out in order with their bodies, whole and byte by byte")
    func pipelined() {
        let text =
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b?fs=500&preprocessed=true HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
            + "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\nGET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        for bb in [false, true] {
            let (reqs, err) = runParser(Array(text.utf8), byteByByte: bb)
            #expect(err == nil)
            #expect(reqs.map(\.path) == ["/a", "/b", "/c", "/d"])
            #expect(reqs.map { String(decoding: $0.body, as: UTF8.self) } == ["", "abc", "xy", ""])
            #expect(reqs[1].query == ["fs": "500", "preprocessed": "true"])
            #expect(reqs.map(\.keepAlive) == [true, true, true, true])
        }
    }

    @Test("keep-alive rules: 1.1 default on, Connection: close off; 1.0 default off")
    func keepAlive() {
        let r = runParser(Array("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.0\r\n\r\n".utf8), byteByByte: false).requests
        #expect(r.map(\.keepAlive) == [false, false])
    }

    @Test("HTTPRequest(method, target, headers:, body:) is the request the parser gives for the same text")
    func requestValue() throws {
        let target = "/embed%20x?fs=360&fs=500&a+b=c%2Fd"
        var p = HTTPParser(limits: small)
        p.feed(Array("POST \(target) HTTP/1.1\r\nHost: x\r\nX-API-Key: k\r\nContent-Length: 2\r\n\r\nok".utf8))
        let parsed = try #require(try p.next())
        let made = HTTPRequest("POST", target, headers: [("Host", "x"), ("X-API-Key", "k"), ("Content-Length", "2")], body: Array("ok".utf8))
        #expect(made.method == parsed.method && made.target == parsed.target && made.path == parsed.path)
        #expect(made.path == "/embed x" && made.query == ["fs": "500", "a b": "c/d"] && made.duplicateQuery == ["fs"])
        #expect(made.query == parsed.query && made.duplicateQuery == parsed.duplicateQuery)
        #expect(made.headers.map(\.name) == parsed.headers.map(\.name) && made.headers.map(\.value) == parsed.headers.map(\.value))
        #expect(made.body == parsed.body && made.minorVersion == parsed.minorVersion && made.keepAlive == parsed.keepAlive)
    }

    @Test("Expect: 100-continue is announced once, before the body")
    func expectContinue() throws {
        var p = HTTPParser(limits: small)
        p.feed(Array("POST /embed HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n".utf8))
        let first = try p.next()
        #expect(first == nil)
        let once = p.wantsContinue(), twice = p.wantsContinue()
        #expect(once && !twice)
        p.feed(Array("ok".utf8))
        let r = try p.next()
        #expect(r?.body == Array("ok".utf8))
    }

    @Test("random bytes never crash the parser")
    func fuzz() {
        var g = SeededRandom(#function, salt: 1)
        let seeds = parserCases.map(\.raw)
        for _ in 0..<3000 {
            var b = seeds[Int.random(in: 0..<seeds.count, using: &g)]
            for _ in 0..<Int.random(in: 1...6, using: &g) where !b.isEmpty { b[Int.random(in: 0..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            _ = runParser(b, byteByByte: Bool.random(using: &g))
        }
    }
}

@Suite struct JSONNumbers {
    /// The fast path against its plain reference (strtod), bit for bit, on random numbers of
    /// every shape the grammar allows and on the edges of the fast path.
    @Test("JSON numbers: the fast path equals strtod bit for bit")
    func fastPathEqualsReference() throws {
        var rng = SeededRandom(#function, salt: 2)
        var cases = [
            "0", "-0", "0.0", "-0.0", "1", "-1", "0.1", "0.2", "0.3", "1e22", "1e23", "9007199254740992", "9007199254740993",
            "9007199254740991.5", "1e-22", "1e-23", "123456789012345678901234567890", "0.000001", "1.7976931348623157e308",
            "4.9e-324", "2.2250738585072014e-308", "0e999", "1E+2", "12.5e-3", "0.30000000000000004", "-1234.5678",
            "99999999999999999999", "1.00000000000000000001", "100000000000000000000e-20",
        ]
        for _ in 0..<200_000 {
            let digits = (0..<Int.random(in: 1...21, using: &rng)).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
            var intPart = String(digits.drop { $0 == "0" }); if intPart.isEmpty { intPart = "0" }
            var t = Bool.random(using: &rng) ? "-" : ""
            let cut = Int.random(in: 0...intPart.count, using: &rng)
            t += cut == 0 ? "0" : String(intPart.prefix(cut))
            if cut < intPart.count { t += "." + intPart.dropFirst(cut) }
            if Int.random(in: 0..<3, using: &rng) == 0 { t += "e" + String(Int.random(in: -30...30, using: &rng)) }
            cases.append(t)
        }
        var mismatches: [String] = []
        for c in cases {
            let bytes = Array(c.utf8)
            guard case let .number(fast) = try JSONParser.parse(bytes) else { Issue.record("\(c) did not parse as a number"); continue }
            let ref = try JSONParser.numberReference(bytes, 0, bytes.count)
            if fast.bitPattern != ref.bitPattern { mismatches.append("\(c): \(fast) vs \(ref)") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(cases.count) differ, e.g. \(mismatches.prefix(5))")
        // What float64 printers write (Python's json.dumps, Swift's description: the shortest
        // string that reads back, 15–17 significant digits, exponents for small and large
        // magnitudes): must read back to the same double, equal to strtod's.
        for _ in 0..<100_000 {
            let x = Double.random(in: 1...10, using: &rng) * pow(10, Double(Int.random(in: -30...30, using: &rng))) * (Bool.random(using: &rng) ? -1 : 1)
            cases.append(x.description)
        }
        var lost: [String] = []
        for c in cases.suffix(100_000) {
            guard case let .number(v) = try JSONParser.parse(Array(c.utf8)) else { continue }
            if v.description != c { lost.append(c) }
        }
        #expect(lost.isEmpty, "\(lost.count) printed doubles did not read back, e.g. \(lost.prefix(5))")
        #expect((0...22).allSatisfy { k in JSONParser.exactPowerOfTen(k, as: Double.self) == (0..<k).reduce(Double(1)) { r, _ in r * 10 } })
        #if arch(x86_64) && !os(Windows)
        #expect((0...27).allSatisfy { k in JSONParser.exactPowerOfTen(k, as: Float80.self) == (0..<k).reduce(Float80(1)) { r, _ in r * 10 } })
        #endif
        // The same numbers as one array (the ECG payload's shape: `shortDecimalRun`, with the
        // exponent and long ones falling back to the general path), every element bit for bit.
        let body = Array(("[" + cases.joined(separator: ", ") + "]").utf8)
        guard case let .numbers(all) = try JSONParser.parse(body) else { Issue.record("the array did not parse as numbers"); return }
        #expect(all.count == cases.count)
        let differ = zip(cases, all).filter { c, v in
            let bytes = Array(c.utf8)
            return (try? JSONParser.numberReference(bytes, 0, bytes.count))?.bitPattern != v.bitPattern
        }
        #expect(differ.isEmpty, "\(differ.count) array elements differ, e.g. \(differ.prefix(5))")
    }

    @Test(
        "JSON numbers: malformed ones are still refused (the short path hands them to the general one)",
        arguments: [
            "01", "-", "-a", "1.", "1.e5", ".5", "1e", "1e+", "--1", "[1.]", "[-]", "[01]", "[1,]", "+1", "0x10",
            // longer than the 64-character limit, though its digits alone would be short
            "[0." + String(repeating: "0", count: 70) + "1e71]", "1e" + String(repeating: "0", count: 70) + "1",
        ])
    func malformed(_ text: String) throws {
        #expect(throws: JSONError.self) { try JSONParser.parse(Array(text.utf8)) }
    }
}
