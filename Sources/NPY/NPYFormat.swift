import Foundation

/// Reads and writes numpy's `.npy` format (versions 1.0, 2.0 and 3.0), as specified in
/// the docstring of numpy's `numpy/lib/_format_impl.py`.
///
/// Parsing works on bytes; nothing in the header is trusted before it is checked
/// against the bytes actually present, so a hostile file cannot make us allocate more
/// than its own size.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY
    /// Largest header we accept (numpy itself refuses headers over 10,000 bytes by default).
    public static let maxHeaderBytes = 1 << 20

    /// Decodes a whole `.npy` file.
    /// - Complexity: O(bytes).
    /// - Throws: `NPYError` naming what is wrong (magic, version, header, size, data).
    public static func decode(_ bytes: [UInt8]) throws -> NPYArray {
        try bytes.withUnsafeBufferPointer { try decode($0) }
    }

    /// The dtype and shape a `.npy` declares, read from its header alone (so a caller can
    /// refuse an array by its size before decoding or widening anything).
    public static func declared(_ bytes: [UInt8]) throws -> (dtype: DType, shape: [Int]) {
        try bytes.withUnsafeBufferPointer { b in
            let (h, _) = try header(b)
            return (h.dtype, h.shape)
        }
    }

    public static func decode(_ b: UnsafeBufferPointer<UInt8>) throws -> NPYArray {
        let (h, start) = try header(b)
        let count = try checkedCount(h.shape, elementSize: h.dtype.size)
        let present = b.count - start
        guard present >= count.bytes else { throw NPYError.truncatedData(expected: count.bytes, found: present) }
        guard present == count.bytes else { throw NPYError.trailingData(expected: count.bytes, found: present) }
        var data = Array(b[start..<(start + count.bytes)])
        if h.bigEndian && h.dtype.size > 1 { byteSwap(&data, size: h.dtype.size) }
        if h.fortranOrder && h.shape.count > 1 { data = fortranToC(data, shape: h.shape, size: h.dtype.size) }
        if h.dtype == .b1, let bad = data.firstIndex(where: { $0 > 1 }) {
            throw NPYError.illegalValue(key: "element \(bad)", value: "byte \(data[bad]) in a bool array")
        }
        return NPYArray(dtype: h.dtype, shape: h.shape, data: data)
    }

    /// The parsed header and the offset of the data.
    static func header(_ b: UnsafeBufferPointer<UInt8>) throws -> (NPYHeader, Int) {
        guard b.count >= 8 else {
            if !zip(b, magic).allSatisfy({ $0 == $1 }) { throw NPYError.badMagic }
            throw NPYError.truncatedHeader(needed: 10, found: b.count)
        }
        guard Array(b[0..<6]) == magic else { throw NPYError.badMagic }
        let major = b[6], minor = b[7]
        let lenBytes: Int
        switch (major, minor) {
        case (1, 0): lenBytes = 2
        case (2, 0), (3, 0): lenBytes = 4
        default: throw NPYError.unsupportedVersion(major: major, minor: minor)
        }
        let pre = 8 + lenBytes
        guard b.count >= pre else { throw NPYError.truncatedHeader(needed: pre, found: b.count) }
        var hlen = 0
        for i in 0..<lenBytes { hlen |= Int(b[8 + i]) << (8 * i) }
        guard hlen <= maxHeaderBytes else { throw NPYError.headerTooLong(hlen) }
        guard b.count >= pre + hlen else { throw NPYError.truncatedHeader(needed: pre + hlen, found: b.count) }
        let headerBytes = Array(b[pre..<(pre + hlen)])
        let header: String
        if major == 3 {
            guard let s = String(validating: headerBytes, as: UTF8.self) else {
                throw NPYError.malformedHeader("header is not valid UTF-8", at: 0)
            }
            header = s
        } else {
            guard headerBytes.allSatisfy({ $0 < 0x80 }) else {
                throw NPYError.malformedHeader("header of a version \(major).0 file is not ASCII", at: 0)
            }
            header = String(decoding: headerBytes, as: UTF8.self)
        }
        return (try HeaderParser.parse(header), pre + hlen)
    }

    /// Encodes an array as `.npy` version 1.0 (2.0 if the header needs it), C order,
    /// little-endian, header padded so the data starts on a 64-byte boundary.
    public static func encode(_ a: NPYArray) -> [UInt8] {
        let descr = a.dtype == .b1 || a.dtype.size == 1 ? "|\(a.dtype.rawValue)" : "<\(a.dtype.rawValue)"
        let shapeText: String
        switch a.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(a.shape[0]),)"
        default: shapeText = "(" + a.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        var version: UInt8 = 1
        var pre = 10
        if dict.utf8.count + 11 > 65535 { version = 2; pre = 12 }
        let total = pre + dict.utf8.count + 1
        let pad = (64 - total % 64) % 64
        dict += String(repeating: " ", count: pad) + "\n"
        var out = magic + [version, 0]
        let hl = dict.utf8.count
        if version == 1 {
            out += [UInt8(hl & 0xFF), UInt8(hl >> 8)]
        } else {
            out += [UInt8(hl & 0xFF), UInt8((hl >> 8) & 0xFF), UInt8((hl >> 16) & 0xFF), UInt8(hl >> 24)]
        }
        out += Array(dict.utf8)
        out += a.data
        return out
    }

    /// Element count and byte count for a shape, checked for overflow.
    static func checkedCount(_ shape: [Int], elementSize: Int) throws -> (elements: Int, bytes: Int) {
        var n = 1
        for d in shape {
            let (p, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw NPYError.sizeOverflow(shape: shape) }
            n = p
        }
        let (bytes, o) = n.multipliedReportingOverflow(by: elementSize)
        guard !o else { throw NPYError.sizeOverflow(shape: shape) }
        return (n, bytes)
    }

    static func byteSwap(_ data: inout [UInt8], size: Int) {
        data.withUnsafeMutableBufferPointer { p in
            var i = 0
            while i + size <= p.count {
                var lo = i, hi = i + size - 1
                while lo < hi { p.swapAt(lo, hi); lo += 1; hi -= 1 }
                i += size
            }
        }
    }

    /// Reorders a Fortran-order (column-major) payload into C order.
    static func fortranToC(_ src: [UInt8], shape: [Int], size: Int) -> [UInt8] {
        let n = shape.reduce(1, *)
        if n == 0 { return src }
        var dst = [UInt8](repeating: 0, count: src.count)
        let r = shape.count
        // Fortran strides (in elements): stride[0] = 1, stride[k] = stride[k-1]*shape[k-1].
        var fstride = [Int](repeating: 1, count: r)
        for k in 1..<r { fstride[k] = fstride[k - 1] * shape[k - 1] }
        var idx = [Int](repeating: 0, count: r)
        src.withUnsafeBufferPointer { s in
            dst.withUnsafeMutableBufferPointer { d in
                for c in 0..<n {
                    var f = 0
                    for k in 0..<r { f += idx[k] * fstride[k] }
                    for j in 0..<size { d[c * size + j] = s[f * size + j] }
                    var k = r - 1
                    while k >= 0 { idx[k] += 1; if idx[k] < shape[k] { break }; idx[k] = 0; k -= 1 }
                }
            }
        }
        return dst
    }

    /// Reads a `.npy` file. A thin wrapper over `decode`.
    public static func read(path: String) throws -> NPYArray {
        try decode(try readFile(path))
    }

    /// Writes a `.npy` file atomically (temporary file in the same folder, then rename).
    public static func write(_ a: NPYArray, path: String) throws {
        try writeFileAtomically(encode(a), path: path)
    }
}

/// Reads a whole file into memory, with an I/O error that names the path.
public func readFile(_ path: String) throws -> [UInt8] {
    guard let d = FileManager.default.contents(atPath: path) else {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            throw NPYError.io(isDir.boolValue ? "\(path) is a directory" : "cannot read \(path)")
        }
        throw NPYError.io("no such file: \(path)")
    }
    return [UInt8](d)
}

/// Writes bytes to `path` through a temporary file and `rename`, so that a reader
/// never sees a partial file and a failure leaves nothing behind.
public func writeFileAtomically(_ bytes: [UInt8], path: String) throws {
    let url = URL(fileURLWithPath: path)
    let dir = url.deletingLastPathComponent().path
    let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
        throw NPYError.io("cannot write \(tmp) (does the folder \(dir) exist and is it writable?)")
    }
    if rename(tmp, path) != 0 {
        let e = String(cString: strerror(errno))
        unlink(tmp)
        throw NPYError.io("cannot rename \(tmp) to \(path): \(e)")
    }
}

/// The parsed header dict.
struct NPYHeader {
    var dtype: DType
    var bigEndian: Bool
    var fortranOrder: Bool
    var shape: [Int]
}

/// A parser for the Python dict literal in a `.npy` header:
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }` in any key order,
/// single or double quotes, optional trailing commas, then spaces and a newline.
struct HeaderParser {
    let s: [UInt8]
    var i = 0

    static func parse(_ text: String) throws -> NPYHeader {
        var p = HeaderParser(s: Array(text.utf8))
        return try p.parseDict()
    }

    mutating func skipSpace() { while i < s.count, s[i] == 0x20 || s[i] == 0x0A || s[i] == 0x09 || s[i] == 0x0D { i += 1 } }

    mutating func expect(_ c: UInt8) throws {
        skipSpace()
        guard i < s.count, s[i] == c else {
            throw NPYError.malformedHeader("expected '\(Character(UnicodeScalar(c)))'", at: i)
        }
        i += 1
    }

    mutating func peek() -> UInt8? { skipSpace(); return i < s.count ? s[i] : nil }

    mutating func string() throws -> String {
        skipSpace()
        guard i < s.count, s[i] == 0x27 || s[i] == 0x22 else { throw NPYError.malformedHeader("expected a string", at: i) }
        let q = s[i]; i += 1
        let start = i
        while i < s.count, s[i] != q { if s[i] == 0x5C { throw NPYError.malformedHeader("escapes are not supported", at: i) }; i += 1 }
        guard i < s.count else { throw NPYError.malformedHeader("unterminated string", at: start) }
        let v = String(decoding: s[start..<i], as: UTF8.self)
        i += 1
        return v
    }

    mutating func word() -> String {
        skipSpace()
        let start = i
        while i < s.count,
            (s[i] >= 0x41 && s[i] <= 0x5A) || (s[i] >= 0x61 && s[i] <= 0x7A) || (s[i] >= 0x30 && s[i] <= 0x39) || s[i] == 0x5F || s[i] == 0x2D || s[i] == 0x2B
                || s[i] == 0x2E
        { i += 1 }
        return String(decoding: s[start..<i], as: UTF8.self)
    }

    mutating func parseDict() throws -> NPYHeader {
        try expect(0x7B)  // {
        var descr: String?, fortran: Bool?, shape: [Int]?
        while true {
            if peek() == 0x7D { i += 1; break }  // }
            let keyAt = i
            let key = try string()
            try expect(0x3A)  // :
            switch key {
            case "descr":
                guard descr == nil else { throw NPYError.duplicateKey(key) }
                guard peek() == 0x27 || peek() == 0x22 else {
                    throw NPYError.illegalValue(key: "descr", value: "a non-string (structured dtypes are not supported)")
                }
                descr = try string()
            case "fortran_order":
                guard fortran == nil else { throw NPYError.duplicateKey(key) }
                let w = word()
                switch w {
                case "True": fortran = true
                case "False": fortran = false
                default: throw NPYError.illegalValue(key: "fortran_order", value: w.isEmpty ? "(not a bool)" : w)
                }
            case "shape":
                guard shape == nil else { throw NPYError.duplicateKey(key) }
                shape = try tuple()
            default:
                _ = keyAt
                throw NPYError.unknownKey(key)
            }
            guard let c = peek() else { throw NPYError.malformedHeader("unterminated dict", at: i) }
            if c == 0x2C { i += 1; continue }
            if c == 0x7D { i += 1; break }
            throw NPYError.malformedHeader("expected ',' or '}'", at: i)
        }
        skipSpace()
        guard i == s.count else { throw NPYError.malformedHeader("unexpected bytes after the dict", at: i) }
        guard let d = descr else { throw NPYError.missingKey("descr") }
        guard let f = fortran else { throw NPYError.missingKey("fortran_order") }
        guard let sh = shape else { throw NPYError.missingKey("shape") }
        let (dtype, big) = try Self.parseDescr(d)
        return NPYHeader(dtype: dtype, bigEndian: big, fortranOrder: f, shape: sh)
    }

    mutating func tuple() throws -> [Int] {
        try expect(0x28)  // (
        var dims: [Int] = []
        while true {
            guard let c0 = peek() else { throw NPYError.malformedHeader("unterminated shape", at: i) }
            if c0 == 0x29 { i += 1; break }
            let at = i
            let w = word()
            guard !w.isEmpty, w.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), w.count <= 18, let v = Int(w) else {
                throw NPYError.illegalValue(key: "shape", value: w.isEmpty ? "(not an integer at byte \(at))" : w)
            }
            dims.append(v)
            guard let c = peek() else { throw NPYError.malformedHeader("unterminated shape", at: i) }
            if c == 0x2C { i += 1; continue }
            if c == 0x29 { i += 1; break }
            throw NPYError.malformedHeader("expected ',' or ')' in shape", at: i)
        }
        guard dims.count <= 32 else { throw NPYError.illegalValue(key: "shape", value: "\(dims.count) dimensions") }
        // Python requires "(n,)" for a one-tuple; "(n)" is an int. Accept both: harmless.
        return dims
    }

    static func parseDescr(_ d: String) throws -> (DType, Bool) {
        let u = Array(d.utf8)
        guard u.count >= 2 else { throw NPYError.unsupportedDType(d) }
        let order = u[0]
        var rest = String(decoding: u[1...], as: UTF8.self)
        var big = false
        switch order {
        case 0x3C, 0x3D: big = false  // < =
        case 0x3E: big = true  // >
        case 0x7C: big = false  // |
        default:
            rest = d  // no order char, e.g. "f4"
        }
        if rest == "?" { rest = "b1" }
        guard let t = DType(rawValue: rest) else { throw NPYError.unsupportedDType(d) }
        if t.size == 1 && order == 0x3E { big = false }
        return (t, big)
    }
}
