import Foundation
import Model
import NPY

/// Writes TensorBoard event files (TFRecord framing with masked CRC-32C; `Event` protos
/// with scalar `Summary` values) that TensorBoard's own `EventAccumulator` reads.
public final class TensorBoardWriter {
    let handle: FileHandle
    public let path: String

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.replacingOccurrences(of: "/", with: "_")
        path = directory + "/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host)"
        guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
            throw NPYError.io("cannot create \(path)")
        }
        handle = h
        var e = Proto()
        e.double(1, Date().timeIntervalSince1970)
        e.string(3, "brain.Event:2")
        write(record: e.bytes)
    }

    deinit { try? handle.close() }

    /// Scalars at a step (tag → value).
    public func scalars(_ values: [(String, Double)], step: Int) {
        var summary = Proto()
        for (tag, v) in values {
            var value = Proto()
            value.string(1, tag)
            value.float(2, Float(v))
            summary.message(1, value.bytes)
        }
        var e = Proto()
        e.double(1, Date().timeIntervalSince1970)
        e.varint(2, UInt64(max(0, step)))
        e.message(5, summary.bytes)
        write(record: e.bytes)
    }

    public func flush() { try? handle.synchronize() }

    func write(record data: [UInt8]) {
        var out: [UInt8] = []
        var len = UInt64(data.count)
        let lenBytes = withUnsafeBytes(of: &len) { Array($0) }
        out += lenBytes
        out += le32(CRC32C.mask(lenBytes.withUnsafeBufferPointer { CRC32C.checksum($0) }))
        out += data
        out += le32(CRC32C.mask(data.withUnsafeBufferPointer { CRC32C.checksum($0) }))
        handle.write(Data(out))
    }

    func le32(_ v: UInt32) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)] }

    /// Minimal protobuf encoder.
    struct Proto {
        var bytes: [UInt8] = []
        mutating func tag(_ field: Int, _ wire: Int) { putVarint(UInt64(field << 3 | wire)) }
        mutating func putVarint(_ v: UInt64) { var v = v; while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }; bytes.append(UInt8(v)) }
        mutating func varint(_ f: Int, _ v: UInt64) { tag(f, 0); putVarint(v) }
        mutating func double(_ f: Int, _ v: Double) { tag(f, 1); withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        mutating func float(_ f: Int, _ v: Float) { tag(f, 5); withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        mutating func string(_ f: Int, _ s: String) { message(f, Array(s.utf8)) }
        mutating func message(_ f: Int, _ b: [UInt8]) { tag(f, 2); putVarint(UInt64(b.count)); bytes += b }
    }
}
