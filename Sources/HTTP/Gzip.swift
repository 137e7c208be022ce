import CZlib

/// Inflates a gzip body, refusing (413) output beyond `limit` bytes: a gzip bomb stops
/// at the limit, never allocates more.
package func gunzip(_ data: [UInt8], limit: Int) throws -> [UInt8] {
    var s = z_stream()
    guard inflateInit2_(&s, 16 + 15, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
        throw HTTPError(.`internal`, "zlib init failed")
    }
    defer { inflateEnd(&s) }
    var out = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var rc: Int32 = Z_OK
    try data.withUnsafeBufferPointer { src in
        s.next_in = UnsafeMutablePointer(mutating: src.baseAddress)
        s.avail_in = uInt(src.count)
        repeat {
            rc = chunk.withUnsafeMutableBufferPointer { c in
                s.next_out = c.baseAddress; s.avail_out = uInt(c.count)
                return inflate(&s, Z_NO_FLUSH)
            }
            let produced = chunk.count - Int(s.avail_out)
            guard out.count + produced <= limit else {
                throw HTTPError(.payloadTooLarge, "gzip body inflates to more than \(limit) bytes")
            }
            out.append(contentsOf: chunk[0..<produced])
            if rc == Z_STREAM_END {
                // RFC 1952: a gzip file is one or more members; anything else after one is an error.
                if s.avail_in == 0 { break }
                let next = s.next_in!
                guard s.avail_in >= 2, next[0] == 0x1F, next[1] == 0x8B else {
                    throw HTTPError(.badGzip, "\(s.avail_in) bytes after the end of the gzip data that are not a gzip member")
                }
                guard inflateReset(&s) == Z_OK else { throw HTTPError(.`internal`, "zlib reset failed") }
                continue
            }
            guard rc == Z_OK else { throw HTTPError(.badGzip, "corrupt gzip body (zlib \(rc))") }
            if s.avail_in == 0 && produced == 0 { throw HTTPError(.badGzip, "truncated gzip body") }
        } while true
    }
    return out
}
