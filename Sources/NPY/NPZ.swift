import CZlib
import Foundation

/// Reads and writes `.npz` archives: ZIP files of `.npy` members, as `np.savez`
/// (STORED) and `np.savez_compressed` (DEFLATE) write them, ZIP64 included.
///
/// Sizes and offsets come from the central directory (numpy forces ZIP64, so local
/// headers say 0xFFFFFFFF); every member is bounds-checked, its CRC-32 verified, and
/// inflation stops at the size the directory declares.
public enum NPZ {
    /// Largest uncompressed member we inflate (bytes). A directory that claims more is refused.
    public static let defaultMaxMemberBytes = 1 << 31

    public struct Entry: Sendable {
        public var name: String
        var method: UInt16
        var crc: UInt32
        var compressedSize: Int
        var uncompressedSize: Int
        var localHeaderOffset: Int
    }

    /// Decodes every member into arrays keyed by member name without the `.npy` suffix.
    public static func decode(_ bytes: [UInt8], maxMemberBytes: Int = defaultMaxMemberBytes) throws -> [String: NPYArray] {
        let entries = try directory(bytes)
        var out: [String: NPYArray] = [:]
        for e in entries {
            var name = e.name
            if name.hasSuffix(".npy") { name.removeLast(4) }
            let raw = try member(bytes, e, maxMemberBytes: maxMemberBytes)
            do { out[name] = try NPY.decode(raw) } catch let err as NPYError {
                throw NPYError.inMember(e.name, NPYErrorBox(err))
            }
        }
        return out
    }

    public static func read(path: String) throws -> [String: NPYArray] {
        let b = try readFile(path)
        do { return try decode(b) } catch let e as NPYError { throw NPYError.io("\(path): \(e)") }
    }

    /// Lists the central directory.
    public static func directory(_ b: [UInt8]) throws -> [Entry] {
        func u16(_ o: Int) -> Int { Int(b[o]) | Int(b[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int? {
            let v = UInt64(u32(o)) | UInt64(u32(o + 4)) << 32
            return v <= UInt64(Int.max) ? Int(v) : nil
        }
        guard b.count >= 22 else { throw NPYError.badZip("file too short (\(b.count) bytes) for a zip end record") }
        // End of central directory: search backwards over at most 64 KiB of comment.
        var eocd = -1
        var p = b.count - 22
        let lowest = max(0, b.count - 22 - 65535)
        while p >= lowest {
            if b[p] == 0x50, b[p + 1] == 0x4B, b[p + 2] == 0x05, b[p + 3] == 0x06 { eocd = p; break }
            p -= 1
        }
        guard eocd >= 0 else { throw NPYError.badZip("no end-of-central-directory record (not a zip file)") }
        var count = u16(eocd + 10)
        var cdSize = u32(eocd + 12)
        var cdOffset = u32(eocd + 16)
        // ZIP64 end-of-central-directory locator sits just before the EOCD.
        if eocd >= 20, u32(eocd - 20) == 0x07064B50 {
            guard let z64 = u64(eocd - 20 + 8), z64 >= 0, z64 + 56 <= b.count, u32(z64) == 0x06064B50 else {
                throw NPYError.badZip("bad ZIP64 end-of-central-directory record")
            }
            guard let c = u64(z64 + 32), let s = u64(z64 + 40), let o = u64(z64 + 48) else {
                throw NPYError.badZip("ZIP64 sizes out of range")
            }
            count = c; cdSize = s; cdOffset = o
        }
        guard cdOffset <= b.count, cdSize <= b.count - cdOffset else {
            throw NPYError.badZip("central directory (offset \(cdOffset), \(cdSize) bytes) lies outside the file")
        }
        guard count <= cdSize / 46 + 1 else { throw NPYError.badZip("entry count \(count) does not fit the directory") }
        var entries: [Entry] = []
        var q = cdOffset
        let end = cdOffset + cdSize
        for _ in 0..<count {
            guard q + 46 <= end, u32(q) == 0x02014B50 else { throw NPYError.badZip("bad central directory entry at offset \(q)") }
            let flags = u16(q + 8)
            let method = UInt16(u16(q + 10))
            let crc = UInt32(u32(q + 16))
            var csize = u32(q + 20)
            var usize = u32(q + 24)
            let nlen = u16(q + 28), xlen = u16(q + 30), clen = u16(q + 32)
            var lho = u32(q + 42)
            guard q + 46 + nlen + xlen + clen <= end else { throw NPYError.badZip("central directory entry at \(q) overruns the directory") }
            let name = String(decoding: b[(q + 46)..<(q + 46 + nlen)], as: UTF8.self)
            guard flags & 1 == 0 else { throw NPYError.badZip("member '\(name)' is encrypted") }
            // ZIP64 extra field: the 0xFFFFFFFF fields, in order usize, csize, offset.
            var x = q + 46 + nlen
            let xend = x + xlen
            while x + 4 <= xend {
                let id = u16(x), sz = u16(x + 2)
                guard x + 4 + sz <= xend else { throw NPYError.badZip("extra field of '\(name)' overruns its entry") }
                if id == 0x0001 {
                    var f = x + 4
                    func next() throws -> Int {
                        guard f + 8 <= x + 4 + sz, let v = u64(f) else { throw NPYError.badZip("short ZIP64 extra field in '\(name)'") }
                        f += 8; return v
                    }
                    if usize == 0xFFFF_FFFF { usize = try next() }
                    if csize == 0xFFFF_FFFF { csize = try next() }
                    if lho == 0xFFFF_FFFF { lho = try next() }
                }
                x += 4 + sz
            }
            entries.append(
                Entry(
                    name: name, method: method, crc: crc, compressedSize: csize,
                    uncompressedSize: usize, localHeaderOffset: lho))
            q += 46 + nlen + xlen + clen
        }
        return entries
    }

    /// The uncompressed bytes of one member, CRC-checked.
    public static func member(_ b: [UInt8], _ e: Entry, maxMemberBytes: Int = defaultMaxMemberBytes) throws -> [UInt8] {
        let o = e.localHeaderOffset
        guard o >= 0, o <= b.count - 30 else { throw NPYError.badZip("local header of '\(e.name)' lies outside the file") }
        guard b[o] == 0x50, b[o + 1] == 0x4B, b[o + 2] == 0x03, b[o + 3] == 0x04 else {
            throw NPYError.badZip("bad local header signature for '\(e.name)'")
        }
        let nlen = Int(b[o + 26]) | Int(b[o + 27]) << 8
        let xlen = Int(b[o + 28]) | Int(b[o + 29]) << 8
        let start = o + 30 + nlen + xlen
        guard start <= b.count, e.compressedSize <= b.count - start else {
            throw NPYError.badZip("member '\(e.name)' is truncated (needs \(e.compressedSize) bytes at \(start), file has \(b.count))")
        }
        guard e.uncompressedSize <= maxMemberBytes else {
            throw NPYError.badZip("member '\(e.name)' declares \(e.uncompressedSize) bytes, over the limit of \(maxMemberBytes)")
        }
        let out: [UInt8]
        switch e.method {
        case 0:
            guard e.compressedSize == e.uncompressedSize else { throw NPYError.badZip("stored member '\(e.name)' has differing sizes") }
            out = Array(b[start..<(start + e.compressedSize)])
        case 8:
            out = try inflateRaw(b, start: start, count: e.compressedSize, expected: e.uncompressedSize, name: e.name)
        default:
            throw NPYError.badZip("member '\(e.name)' uses compression method \(e.method) (STORED and DEFLATE are read)")
        }
        let crc = out.withUnsafeBufferPointer { p in
            UInt32(crc32(0, p.baseAddress, uInt(p.count)))
        }
        guard crc == e.crc else { throw NPYError.badZip("CRC-32 mismatch in member '\(e.name)' (corrupted file)") }
        return out
    }

    static func inflateRaw(_ b: [UInt8], start: Int, count: Int, expected: Int, name: String) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: expected)
        var s = z_stream()
        guard inflateInit2_(&s, -15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw NPYError.badZip("zlib initialisation failed")
        }
        defer { inflateEnd(&s) }
        let rc: Int32 = b.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                s.next_in = UnsafeMutablePointer(mutating: src.baseAddress! + start)
                s.avail_in = uInt(count)
                s.next_out = dst.baseAddress
                s.avail_out = uInt(expected)
                return inflate(&s, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END, Int(s.total_out) == expected else {
            if rc == Z_BUF_ERROR && s.avail_out == 0 {
                throw NPYError.badZip("member '\(name)' inflates to more than the \(expected) bytes its directory declares")
            }
            throw NPYError.badZip("member '\(name)' has corrupt DEFLATE data (zlib \(rc))")
        }
        return out
    }

    /// Encodes arrays as a zip; member names get `.npy` appended. Sorted by name.
    /// - Parameter compressed: DEFLATE (like `np.savez_compressed`) or STORED (like `np.savez`).
    public static func encode(_ arrays: [String: NPYArray], compressed: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func le16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func le32(_ v: Int, _ a: inout [UInt8]) { le16(v & 0xFFFF, &a); le16((v >> 16) & 0xFFFF, &a) }
        let names = arrays.keys.sorted()
        for key in names {
            let raw = NPY.encode(arrays[key]!)
            let name = Array((key + ".npy").utf8)
            let crc = raw.withUnsafeBufferPointer { Int(crc32(0, $0.baseAddress, uInt($0.count))) }
            var payload = raw
            var method = 0
            if compressed, let d = deflateRaw(raw) { payload = d; method = 8 }
            let offset = out.count
            le32(0x04034B50, &out); le16(20, &out); le16(0, &out); le16(method, &out)
            le16(0, &out); le16(0x21, &out)  // time, date (1980-01-01)
            le32(crc, &out); le32(payload.count, &out); le32(raw.count, &out)
            le16(name.count, &out); le16(0, &out)
            out += name; out += payload
            le32(0x02014B50, &central); le16(20, &central); le16(20, &central); le16(0, &central)
            le16(method, &central); le16(0, &central); le16(0x21, &central)
            le32(crc, &central); le32(payload.count, &central); le32(raw.count, &central)
            le16(name.count, &central); le16(0, &central); le16(0, &central); le16(0, &central)
            le16(0, &central); le32(0, &central); le32(offset, &central)
            central += name
        }
        let cdOffset = out.count
        out += central
        le32(0x06054B50, &out); le16(0, &out); le16(0, &out)
        le16(names.count, &out); le16(names.count, &out)
        le32(central.count, &out); le32(cdOffset, &out); le16(0, &out)
        return out
    }

    static func deflateRaw(_ raw: [UInt8]) -> [UInt8]? {
        var s = z_stream()
        guard deflateInit2_(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&s) }
        let bound = Int(deflateBound(&s, uLong(raw.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let rc: Int32 = raw.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                s.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
                s.avail_in = uInt(src.count)
                s.next_out = dst.baseAddress
                s.avail_out = uInt(bound)
                return deflate(&s, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { return nil }
        out.removeLast(bound - Int(s.total_out))
        return out
    }

    /// Writes an `.npz` atomically.
    public static func write(_ arrays: [String: NPYArray], path: String, compressed: Bool = false) throws {
        try writeFileAtomically(encode(arrays, compressed: compressed), path: path)
    }
}
