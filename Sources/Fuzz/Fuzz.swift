// libFuzzer entry points for the parsers that read what clients and files send.
// Built for fuzzing only by scripts/fuzz.sh (swift build --sanitize=fuzzer
// --sanitize=address -Xswiftc -DFUZZING), which links libFuzzer's main; FUZZ_TARGET
// picks the parser. A plain build makes a tool that replays one input file.
import Foundation
import HTTP
import NPY
import Training

/// The parser to fuzz: FUZZ_TARGET = http, json, npy, gzip or checkpoint.
let fuzzTarget = ProcessInfo.processInfo.environment["FUZZ_TARGET"] ?? "http"

/// One input through the chosen parser. Only crashes, hangs and sanitizer reports count:
/// every error a parser throws is a correct refusal.
func fuzzOne(_ d: [UInt8]) {
    switch fuzzTarget {
    case "http":
        // The whole input, then the same bytes fed in pieces: both must give the same requests.
        func parseAll(_ chunks: [ArraySlice<UInt8>]) -> [String] {
            var p = HTTPParser(limits: HTTPLimits(maxRequestLine: 512, maxHeaderBytes: 2048, maxHeaderCount: 20, maxBodyBytes: 4096))
            var out: [String] = []
            for c in chunks {
                p.feed(c)
                while true {
                    do { guard let r = try p.next() else { break }; out.append("\(r.method) \(r.target) \(r.body.count)") } catch {
                        out.append("error \(error)"); return out
                    }
                }
            }
            return out
        }
        let whole = parseAll([d[...]])
        let cut = d.isEmpty ? 0 : Int(d[0]) % max(1, d.count)
        let pieces = parseAll([d[..<cut], d[cut...]])
        if whole != pieces { fatalError("HTTPParser: split input parsed differently: \(whole) vs \(pieces)") }
    case "json":
        if let v = try? JSONParser.parse(d) {
            // What parses must serialise and parse back to the same value.
            var w = JSONWriter(); w.value(v)
            guard let again = try? JSONParser.parse(w.out), again == v else { fatalError("JSON: round trip changed \(v)") }
        }
    case "json-parse":  // parse only (for instruction counts of the parser: scripts/bench_json.sh)
        _ = try? JSONParser.parse(d)
    case "npy":
        _ = try? NPY.decode(d)
        _ = try? NPZ.decode(d, maxMemberBytes: 1 << 20)
    case "gzip":
        _ = try? gunzip(d, limit: 1 << 20)
    case "checkpoint":
        _ = try? TFCheckpoint.parseIndex(d)
    default:
        fatalError("FUZZ_TARGET must be http, json, npy, gzip or checkpoint")
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
@main struct FuzzStub {
    static func main() {
        if CommandLine.arguments.count > 1, let d = FileManager.default.contents(atPath: CommandLine.arguments[1]) {
            fuzzOne([UInt8](d))  // replays one input (a regression case) in a plain build
        } else {
            print("ecg-fuzz: build it with scripts/fuzz.sh to fuzz; with a file argument it replays one input")
        }
    }
}
#endif
