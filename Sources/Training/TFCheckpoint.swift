import Foundation
import Model
import NPY

/// Errors reading a TensorFlow V2 checkpoint (tensor bundle).
public enum CheckpointError: Error, CustomStringConvertible, Equatable, Sendable {
    case file(String)
    case corruptIndex(String)
    case corruptData(tensor: String, String)
    case unsupported(tensor: String, String)

    public var description: String {
        switch self {
        case let .file(m): return "checkpoint: \(m)"
        case let .corruptIndex(m): return "checkpoint .index is corrupt: \(m)"
        case let .corruptData(t, m): return "checkpoint tensor '\(t)': \(m)"
        case let .unsupported(t, m): return "checkpoint tensor '\(t)': \(m)"
        }
    }
}

/// CRC-32C (Castagnoli), as LevelDB and TensorFlow use it, and its "masked" form.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    public static func checksum(_ b: UnsafeBufferPointer<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var c = ~seed
        for x in b { c = table[Int((c ^ UInt32(x)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    public static func checksum(_ b: ArraySlice<UInt8>) -> UInt32 { b.withUnsafeBufferPointer { checksum($0) } }

    /// TF/LevelDB mask: rotate right by 15 and add a constant.
    public static func mask(_ c: UInt32) -> UInt32 { ((c >> 15) | (c << 17)) &+ 0xA282_EAD8 }
}

/// Reads TensorFlow V2 checkpoints (`prefix.index` + `prefix.data-00000-of-00001`), as
/// written by `tf.compat.v1.train.Saver` in the authors' code.
///
/// The `.index` is a LevelDB-format SSTable (uncompressed blocks, each with a masked
/// CRC-32C) mapping tensor names to `BundleEntryProto` (dtype, shape, shard, offset,
/// size, masked CRC-32C of the bytes). Every block and every tensor read is checked.
public enum TFCheckpoint {
    public struct Entry: Sendable {
        public var name: String
        public var dtype: Int
        public var shape: [Int]
        public var shard: Int
        public var offset: Int
        public var size: Int
        public var crc: UInt32
    }

    static let tableMagic: UInt64 = 0xDB47_7524_8B80_FB57

    /// Reads float32 tensors whose names pass `include`; others (Adam slots, step
    /// counters) are skipped unread.
    public static func read(prefix: String, include: (String) -> Bool = { _ in true }) throws -> [String: NPYArray] {
        var p = prefix
        if p.hasSuffix(".index") { p.removeLast(6) }
        guard let idx = FileManager.default.contents(atPath: p + ".index") else {
            throw CheckpointError.file("\(p).index not found (give the prefix, e.g. .../SSL_model.ckpt)")
        }
        let entries = try parseIndex([UInt8](idx))
        let wanted = entries.filter { include($0.name) }
        if let e = wanted.first(where: { $0.shard != 0 }) {
            throw CheckpointError.unsupported(tensor: e.name, "shard \(e.shard): only single-shard checkpoints are read")
        }
        let dataPath = p + ".data-00000-of-00001"
        guard let dataD = FileManager.default.contents(atPath: dataPath) else {
            throw CheckpointError.file("\(dataPath) not found")
        }
        let data = [UInt8](dataD)
        var out: [String: NPYArray] = [:]
        for e in wanted {
            guard e.dtype == 1 else {
                throw CheckpointError.unsupported(tensor: e.name, "dtype \(e.dtype) (only DT_FLOAT = 1 is imported)")
            }
            let (count, o) = e.shape.reduce((1, false)) { acc, d in
                let (v, of) = acc.0.multipliedReportingOverflow(by: d); return (v, acc.1 || of || d < 0)
            }
            let (bytes4, o4) = count.multipliedReportingOverflow(by: 4)
            guard !o, !o4, bytes4 == e.size else {
                throw CheckpointError.corruptData(tensor: e.name, "size \(e.size) bytes does not match shape \(e.shape) of float32")
            }
            guard e.offset >= 0, e.offset <= data.count, e.size <= data.count - e.offset else {
                throw CheckpointError.corruptData(tensor: e.name, "\(e.size) bytes at offset \(e.offset) lie outside \(dataPath) (\(data.count) bytes)")
            }
            let bytes = data[e.offset..<(e.offset + e.size)]
            let crc = CRC32C.mask(CRC32C.checksum(bytes))
            guard crc == e.crc else {
                throw CheckpointError.corruptData(
                    tensor: e.name, "CRC-32C mismatch in \(dataPath) (stored \(String(e.crc, radix: 16)), computed \(String(crc, radix: 16)))")
            }
            out[e.name] = NPYArray(dtype: .f4, shape: e.shape, data: Array(bytes))
        }
        return out
    }

    /// Parses the SSTable, verifying the footer magic and every block's CRC-32C.
    public static func parseIndex(_ b: [UInt8]) throws -> [Entry] {
        guard b.count >= 48 else { throw CheckpointError.corruptIndex("file too short (\(b.count) bytes)") }
        var magic: UInt64 = 0
        for i in 0..<8 { magic |= UInt64(b[b.count - 8 + i]) << (8 * UInt64(i)) }
        guard magic == tableMagic else { throw CheckpointError.corruptIndex("bad table magic number") }
        var r = Reader(b: b, pos: b.count - 48, end: b.count - 8)
        let metaOff = try r.varint(), metaSize = try r.varint()
        _ = try block(b, offset: metaOff, size: metaSize)  // unused, but checksummed like every block
        let indexOff = try r.varint(), indexSize = try r.varint()
        let index = try block(b, offset: indexOff, size: indexSize)
        var entries: [Entry] = []
        for (_, handle) in try blockEntries(index) {
            var h = Reader(b: handle, pos: 0, end: handle.count)
            let off = try h.varint(), size = try h.varint()
            for (key, value) in try blockEntries(try block(b, offset: off, size: size)) {
                if key.isEmpty { continue }  // BundleHeaderProto
                let name = String(decoding: key, as: UTF8.self)
                entries.append(try parseEntry(name: name, value))
            }
        }
        return entries
    }

    /// The contents of a block, after checking its trailer (type byte + masked CRC-32C).
    static func block(_ b: [UInt8], offset: Int, size: Int) throws -> [UInt8] {
        // No arithmetic on the untrusted values before they are bounded (found by fuzzing:
        // size + 5 overflowed for a size near Int.max).
        guard offset >= 0, size >= 0, offset <= b.count, size <= b.count - offset - 5 else {
            throw CheckpointError.corruptIndex("block handle (offset \(offset), size \(size)) lies outside the file")
        }
        let type = b[offset + size]
        guard type == 0 else { throw CheckpointError.corruptIndex("block at \(offset) is compressed (type \(type)); only uncompressed blocks are read") }
        var stored: UInt32 = 0
        for i in 0..<4 { stored |= UInt32(b[offset + size + 1 + i]) << (8 * UInt32(i)) }
        let crc = CRC32C.mask(CRC32C.checksum(b[offset..<(offset + size + 1)]))
        guard crc == stored else { throw CheckpointError.corruptIndex("CRC-32C mismatch in block at offset \(offset)") }
        return Array(b[offset..<(offset + size)])
    }

    /// Key/value pairs of a block (prefix-compressed keys, restart array at the end).
    static func blockEntries(_ blk: [UInt8]) throws -> [([UInt8], [UInt8])] {
        guard blk.count >= 4 else { throw CheckpointError.corruptIndex("block too short") }
        let nr = Int(blk[blk.count - 4]) | Int(blk[blk.count - 3]) << 8 | Int(blk[blk.count - 2]) << 16 | Int(blk[blk.count - 1]) << 24
        guard nr >= 0, (nr + 1) * 4 <= blk.count else { throw CheckpointError.corruptIndex("bad restart count \(nr)") }
        let end = blk.count - (nr + 1) * 4
        var r = Reader(b: blk, pos: 0, end: end)
        var out: [([UInt8], [UInt8])] = []
        var key: [UInt8] = []
        while r.pos < end {
            let shared = try r.varint(), nonShared = try r.varint(), vlen = try r.varint()
            guard shared <= key.count else { throw CheckpointError.corruptIndex("key shares \(shared) bytes with a \(key.count)-byte key") }
            key = Array(key[0..<shared]) + (try r.bytes(nonShared))
            out.append((key, try r.bytes(vlen)))
        }
        return out
    }

    /// Decodes a `BundleEntryProto`.
    static func parseEntry(name: String, _ v: [UInt8]) throws -> Entry {
        var e = Entry(name: name, dtype: 0, shape: [], shard: 0, offset: 0, size: 0, crc: 0)
        var r = Reader(b: v, pos: 0, end: v.count)
        while r.pos < r.end {
            let tag = try r.varint()
            switch (tag >> 3, tag & 7) {
            case (1, 0): e.dtype = try r.varint()
            case (2, 2):
                let shape = try r.bytes(try r.varint())
                var s = Reader(b: shape, pos: 0, end: shape.count)
                while s.pos < s.end {
                    let t = try s.varint()
                    if t >> 3 == 2, t & 7 == 2 {
                        let dim = try s.bytes(try s.varint())
                        var d = Reader(b: dim, pos: 0, end: dim.count)
                        var size = 0
                        while d.pos < d.end {
                            let dt = try d.varint()
                            if dt >> 3 == 1, dt & 7 == 0 { size = try d.varint() } else { try d.skip(wire: dt & 7) }
                        }
                        e.shape.append(size)
                    } else {
                        try s.skip(wire: t & 7)
                    }
                }
            case (3, 0): e.shard = try r.varint()
            case (4, 0): e.offset = try r.varint()
            case (5, 0): e.size = try r.varint()
            case (6, 5): e.crc = UInt32(truncatingIfNeeded: try r.fixed32())
            case (7, 2): throw CheckpointError.unsupported(tensor: name, "sliced (partitioned) variables are not supported")
            default: try r.skip(wire: tag & 7)
            }
        }
        return e
    }

    struct Reader {
        let b: [UInt8]
        var pos: Int
        let end: Int

        mutating func varint() throws -> Int {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard pos < end else { throw CheckpointError.corruptIndex("truncated varint") }
                let x = b[pos]; pos += 1
                guard shift < 64 else { throw CheckpointError.corruptIndex("varint too long") }
                v |= UInt64(x & 0x7F) << shift
                if x & 0x80 == 0 { break }
                shift += 7
            }
            guard v <= UInt64(Int.max) else { throw CheckpointError.corruptIndex("varint out of range") }
            return Int(v)
        }

        mutating func fixed32() throws -> Int {
            guard end - pos >= 4 else { throw CheckpointError.corruptIndex("truncated fixed32") }
            defer { pos += 4 }
            return Int(b[pos]) | Int(b[pos + 1]) << 8 | Int(b[pos + 2]) << 16 | Int(b[pos + 3]) << 24
        }

        mutating func bytes(_ n: Int) throws -> [UInt8] {
            guard n >= 0, n <= end - pos else { throw CheckpointError.corruptIndex("length \(n) overruns its record") }
            defer { pos += n }
            return Array(b[pos..<(pos + n)])
        }

        mutating func skip(wire: Int) throws {
            switch wire {
            case 0: _ = try varint()
            case 1: _ = try bytes(8)
            case 2: _ = try bytes(try varint())
            case 5: _ = try bytes(4)
            default: throw CheckpointError.corruptIndex("unknown protobuf wire type \(wire)")
            }
        }
    }
}
