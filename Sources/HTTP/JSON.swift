// A strict JSON (RFC 8259) parser with a depth limit and byte offsets in its errors,
// specialised to keep arrays of numbers as [Double] (the ECG payload) without boxing.

package indirect enum JSON: Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    /// An array whose elements are all numbers.
    case numbers([Double])
    case array([JSON])
    case object([(String, JSON)])

    package static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.numbers(x), .numbers(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    package subscript(key: String) -> JSON? {
        if case let .object(kv) = self { return kv.first { $0.0 == key }?.1 }
        return nil
    }
}

package struct JSONError: Error, Equatable { package var message: String; package var offset: Int }

package struct JSONParser {
    package let b: [UInt8]
    package var i = 0
    package let maxDepth: Int

    package static func parse(_ bytes: [UInt8], maxDepth: Int = 32) throws -> JSON {
        var p = JSONParser(b: bytes, maxDepth: maxDepth)
        p.ws()
        let v = try p.value(depth: 0)
        p.ws()
        guard p.i == p.b.count else { throw JSONError(message: "unexpected data after the JSON value", offset: p.i) }
        return v
    }

    package mutating func ws() { while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }

    package func fail(_ m: String) -> JSONError { JSONError(message: m, offset: i) }

    package mutating func value(depth: Int) throws -> JSON {
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth)") }
        guard i < b.count else { throw fail("unexpected end of JSON") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1; ws()
            var kv: [(String, JSON)] = []
            if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
            while true {
                ws()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let k = try string()
                ws()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1; ws()
                if kv.contains(where: { $0.0 == k }) { throw fail("duplicate key \"\(k)\"") }
                kv.append((k, try value(depth: depth + 1)))
                ws()
                guard i < b.count else { throw fail("unterminated object") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(kv) }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1; ws()
            if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .numbers([]) }
            var nums: [Double] = []
            var items: [JSON]? = nil
            while true {
                ws()
                guard i < b.count else { throw fail("unterminated array") }
                if items == nil, b[i] == UInt8(ascii: "-") || (b[i] >= 0x30 && b[i] <= 0x39) {
                    if !shortDecimalRun(&nums) { nums.append(try number()) }
                } else {
                    if items == nil { items = nums.map { .number($0) } }
                    items!.append(try value(depth: depth + 1))
                }
                ws()
                guard i < b.count else { throw fail("unterminated array") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; break }
                throw fail("expected ',' or ']'")
            }
            return items.map { .array($0) } ?? .numbers(nums)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), 0x30...0x39: return .number(try number())
        default: throw fail("unexpected character '\(Character(UnicodeScalar(b[i])))'")
        }
    }

    package mutating func literal(_ s: String) throws {
        let u = Array(s.utf8)
        guard b.count - i >= u.count, Array(b[i..<(i + u.count)]) == u else { throw fail("invalid literal") }
        i += u.count
    }

    /// RFC 8259 number grammar; NaN and Infinity are not JSON.
    ///
    /// Numbers of at most 19 significant digits (all that float64 printers write) are read
    /// exactly by `shortDecimal`, in one pass. Everything else is scanned here — for the
    /// grammar, its error messages and the length limit — and read by strtod
    /// (`numberReference`), which the tests compare the fast path with bit for bit.
    package mutating func number() throws -> Double {
        if let (v, end) = b.withUnsafeBufferPointer({ Self.shortDecimal($0, from: i) }) { i = end; return v }
        let s = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        @inline(__always) func digits() { while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 } }
        guard i < b.count, b[i] >= 0x30 && b[i] <= 0x39 else { throw fail("invalid number") }
        if b[i] == 0x30 { i += 1 } else { digits() }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            guard i < b.count, b[i] >= 0x30 && b[i] <= 0x39 else { throw fail("invalid number: digits must follow '.'") }
            digits()
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, b[i] >= 0x30 && b[i] <= 0x39 else { throw fail("invalid number exponent") }
            digits()
        }
        guard i - s <= 64 else { throw JSONError(message: "number too long", offset: s) }
        return try Self.numberReference(b, s, i)
    }

    /// Appends a run of short decimals (`shortDecimal`) separated by commas, in one pass over
    /// the bytes (the ECG payload: thousands of them). Leaves `i` just after the last number
    /// it took, so the general array loop reads whatever follows (a comma before an element
    /// of another kind, the closing bracket, or an error). False when the element at `i`
    /// (which must exist) is not a short decimal.
    mutating func shortDecimalRun(_ nums: inout [Double]) -> Bool {
        var at = i, took = false
        b.withUnsafeBufferPointer { p in
            let n = p.count
            @inline(__always) func isWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
            var j = at
            while let (v, e) = Self.shortDecimal(p, from: j) {
                nums.append(v); took = true; at = e
                var k = e
                while k < n && isWS(p[k]) { k += 1 }
                guard k < n && p[k] == UInt8(ascii: ",") else { break }
                k += 1
                while k < n && isWS(p[k]) { k += 1 }
                guard k < n else { break }
                j = k
            }
        }
        i = at
        return took
    }

    /// 10^k for k in 0…27 (a switch the compiler turns into a table; no lazy global):
    /// exact as a Double up to 10^22, as an x86 Float80 up to 10^27 (5^27 < 2^64).
    @inline(__always)
    static func exactPowerOfTen<T: BinaryFloatingPoint>(_ k: Int, as _: T.Type) -> T {
        switch k {
        case 0: return 1e0;
        case 1: return 1e1;
        case 2: return 1e2;
        case 3: return 1e3;
        case 4: return 1e4
        case 5: return 1e5;
        case 6: return 1e6;
        case 7: return 1e7;
        case 8: return 1e8;
        case 9: return 1e9
        case 10: return 1e10;
        case 11: return 1e11;
        case 12: return 1e12;
        case 13: return 1e13;
        case 14: return 1e14
        case 15: return 1e15;
        case 16: return 1e16;
        case 17: return 1e17;
        case 18: return 1e18;
        case 19: return 1e19
        case 20: return 1e20;
        case 21: return 1e21;
        case 22: return 1e22;
        case 23: return 1e23;
        case 24: return 1e24
        case 25: return 1e25;
        case 26: return 1e26;
        default: return 1e27
        }
    }

    /// The common case in one tight pass: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    /// with at most 19 significant digits (so their integer cannot overflow); nil for
    /// anything else (longer or malformed numbers), which `number()` then scans with its
    /// general path and its error messages. Returns the value and the index after the
    /// number. Correctly rounded, in two exact steps:
    /// - Clinger: an integer ≤ 2^53 times or divided by 10^k, k ≤ 22 (both exact doubles):
    ///   one IEEE operation, one rounding.
    /// - Otherwise, on x86-64, the same in 80-bit extended precision (64-bit significand:
    ///   any 19-digit integer and 10^k for k ≤ 27 are exact), then rounded to double. Two
    ///   roundings differ from one only when the extended result lies exactly halfway
    ///   between two doubles (its 11 bits below a double's are 100 0000 0000): that case
    ///   returns nil and goes to strtod. This covers the 17-digit numbers that Python's
    ///   `json.dumps` and most other float64 printers write.
    @inline(__always)
    static func shortDecimal(_ p: UnsafeBufferPointer<UInt8>, from start: Int) -> (Double, Int)? {
        let n = p.count
        var i = start
        let neg = p[i] == UInt8(ascii: "-")
        if neg { i += 1 }
        guard i < n else { return nil }
        var mant: UInt64 = 0, sig = 0, exp10 = 0
        let first = p[i] &- 0x30
        if first > 9 { return nil }
        i += 1
        if first != 0 {
            mant = UInt64(first)
            let s0 = i
            while i < n { let d = p[i] &- 0x30; if d > 9 { break }; mant = mant &* 10 &+ UInt64(d); i += 1 }
            sig = 1 + i - s0
        }
        if i < n && p[i] == UInt8(ascii: ".") {
            i += 1
            let f0 = i
            if mant == 0 { while i < n && p[i] == 0x30 { i += 1 } }  // leading zeros: not significant
            let s0 = i
            while i < n { let d = p[i] &- 0x30; if d > 9 { break }; mant = mant &* 10 &+ UInt64(d); i += 1 }
            if i == f0 { return nil }
            sig += i - s0
            exp10 = f0 - i
        }
        if i < n && (p[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var eneg = false
            if i < n && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { eneg = p[i] == UInt8(ascii: "-"); i += 1 }
            let e0 = i
            var e = 0
            while i < n { let d = p[i] &- 0x30; if d > 9 { break }; if e < 10_000 { e = e * 10 + Int(d) }; i += 1 }
            if i == e0 { return nil }
            exp10 += eneg ? -e : e
        }
        guard sig <= 19, i - start <= 64 else { return nil }  // too long: the general path refuses it
        if mant == 0 { return (neg ? -0.0 : 0.0, i) }
        if mant <= 1 << 53 && exp10 >= -22 && exp10 <= 22 {
            let m = Double(mant)
            let v = exp10 >= 0 ? m * exactPowerOfTen(exp10, as: Double.self) : m / exactPowerOfTen(-exp10, as: Double.self)
            return (neg ? -v : v, i)
        }
        #if arch(x86_64) && !os(Windows)
        if exp10 >= -27 && exp10 <= 27 {
            let m = Float80(mant)
            let y = exp10 >= 0 ? m * exactPowerOfTen(exp10, as: Float80.self) : m / exactPowerOfTen(-exp10, as: Float80.self)
            if y.significandBitPattern & 0x7FF == 0x400 { return nil }  // a double midpoint: strtod decides
            let v = Double(y)
            return (neg ? -v : v, i)
        }
        #endif
        return nil
    }

    /// The plain reference: strtod on the number's bytes (range checked).
    package static func numberReference(_ b: [UInt8], _ s: Int, _ e: Int) throws -> Double {
        let d = withUnsafeTemporaryAllocation(of: CChar.self, capacity: e - s + 1) { tmp in
            for k in 0..<(e - s) { tmp[k] = CChar(bitPattern: b[s + k]) }
            tmp[e - s] = 0
            return strtod(tmp.baseAddress!, nil)
        }
        guard d.isFinite else { throw JSONError(message: "number out of range", offset: s) }
        return d
    }

    package mutating func string() throws -> String {
        i += 1
        var out: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw fail("control character in string") }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { throw fail("unterminated escape") }
                switch b[i] {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    guard b.count - i > 4, let v = UInt32(String(decoding: b[(i + 1)...(i + 4)], as: UTF8.self), radix: 16) else {
                        throw fail("bad \\u escape")
                    }
                    i += 4
                    var scalar = v
                    if v >= 0xD800 && v < 0xDC00 {
                        guard b.count - i > 6, b[i + 1] == UInt8(ascii: "\\"), b[i + 2] == UInt8(ascii: "u"),
                            let lo = UInt32(String(decoding: b[(i + 3)...(i + 6)], as: UTF8.self), radix: 16),
                            lo >= 0xDC00 && lo < 0xE000
                        else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                        i += 6
                    } else if v >= 0xDC00 && v < 0xE000 {
                        throw fail("unpaired surrogate")
                    }
                    out.append(contentsOf: Array(String(Character(UnicodeScalar(scalar)!)).utf8))
                default: throw fail("bad escape")
                }
                i += 1
                continue
            }
            out.append(c); i += 1
        }
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }
}

import Foundation

/// JSON text building without Foundation's boxing: numbers in shortest round-trip form.
package struct JSONWriter {
    package var out: [UInt8] = []
    package init() {}
    package mutating func raw(_ s: String) { out.append(contentsOf: s.utf8) }
    package mutating func string(_ s: String) {
        out.append(0x22)
        for u in s.unicodeScalars {
            switch u {
            case "\"": raw("\\\"")
            case "\\": raw("\\\\")
            case "\n": raw("\\n")
            case "\r": raw("\\r")
            case "\t": raw("\\t")
            default:
                if u.value < 0x20 { raw(String(format: "\\u%04x", u.value)) } else { out.append(contentsOf: String(u).utf8) }
            }
        }
        out.append(0x22)
    }
    package mutating func float(_ f: Float) { raw(f.isFinite ? "\(f)" : "null") }
    package mutating func double(_ d: Double) { raw(d.isFinite ? "\(d)" : "null") }
    /// Any parsed value, written back (numbers in Swift's shortest round-trip form).
    package mutating func value(_ v: JSON) {
        switch v {
        case .null: raw("null")
        case let .bool(b): raw(b ? "true" : "false")
        case let .number(d): double(d)
        case let .string(s): string(s)
        case let .numbers(a):
            raw("["); for (i, d) in a.enumerated() { if i > 0 { raw(",") }; double(d) }; raw("]")
        case let .array(a):
            raw("["); for (i, e) in a.enumerated() { if i > 0 { raw(",") }; value(e) }; raw("]")
        case let .object(kv):
            raw("{"); for (i, (k, e)) in kv.enumerated() { if i > 0 { raw(",") }; string(k); raw(":"); value(e) }; raw("}")
        }
    }
    package mutating func floats(_ a: ArraySlice<Float>) {
        out.append(UInt8(ascii: "["))
        var first = true
        for f in a { if !first { out.append(UInt8(ascii: ",")) }; first = false; float(f) }
        out.append(UInt8(ascii: "]"))
    }
}
