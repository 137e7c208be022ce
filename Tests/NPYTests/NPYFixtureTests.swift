import Foundation
import TestSupport
import Testing
@testable import NPY

/// Fixtures written by numpy (`scripts/make_npy_fixtures.py`); expected values are
/// numpy's own reading of each file, stored in `expected.json`.
enum Fixtures {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    nonisolated(unsafe) static let expected: [String: Any] = {
        let d = try! Data(contentsOf: root.appendingPathComponent("expected.json"))
        return try! JSONSerialization.jsonObject(with: d) as! [String: Any]
    }()
    static var good: [String: Any] { expected["good"] as! [String: Any] }
    static var bad: [String: String] { expected["bad"] as! [String: String] }
    static func bytes(_ sub: String, _ name: String) -> [UInt8] {
        [UInt8](try! Data(contentsOf: root.appendingPathComponent(sub).appendingPathComponent(name)))
    }
    static var goodNPY: [String] { good.keys.filter { $0.hasSuffix(".npy") }.sorted() }
    static var goodAll: [String] { good.keys.sorted() }
}

func errorKind(_ e: NPYError) -> String {
    // The case name, e.g. "badMagic" for NPYError.badMagic.
    e.kind
}

func sameValue(_ a: Double, _ b: Any) -> Bool {
    if b is NSNull { return !a.isFinite }
    let x = Double(b as! String)!  // numpy's float.hex(): exact
    return a == x
}

@Test("every numpy-written .npy decodes to numpy's values", arguments: Fixtures.goodNPY)
func decodesGood(_ name: String) throws {
    let exp = Fixtures.good[name] as! [String: Any]
    let a = try NPY.decode(Fixtures.bytes("good", name))
    #expect(a.shape == (exp["shape"] as! [Int]))
    #expect(a.dtype.rawValue == exp["dtype"] as! String)
    let vals = exp["values"] as! [Any]
    let got = a.doubles()
    #expect(got.count == vals.count)
    for (i, v) in vals.enumerated() where i < got.count {
        #expect(sameValue(got[i], v), "element \(i): got \(got[i]), numpy says \(v)")
    }
    let nonfinite = (exp["nonfinite"] as! [String])
    #expect(got.filter { !$0.isFinite }.map { $0 == .infinity ? "inf" : $0 == -.infinity ? "-inf" : "nan" } == nonfinite)
}

@Test("every good fixture minus its last byte is refused, never a crash", arguments: Fixtures.goodAll)
func truncatedByOne(_ name: String) throws {
    let b = Fixtures.bytes("good", name)
    let cut = Array(b.dropLast())
    if name.hasSuffix(".npz") {
        #expect(throws: NPYError.self) { _ = try NPZ.decode(cut) }
    } else {
        #expect(throws: NPYError.self) { _ = try NPY.decode(cut) }
    }
}

@Test("every prefix of a file is refused with an NPYError")
func everyPrefix() throws {
    let b = Fixtures.bytes("good", "f8_be_F_2x3x4.npy")
    for n in 0..<b.count {
        #expect(throws: NPYError.self) { _ = try NPY.decode(Array(b[0..<n])) }
    }
}

@Test("malformed and hostile files give the precise error", arguments: Fixtures.bad.keys.sorted())
func refusesBad(_ name: String) throws {
    let want = Fixtures.bad[name]!
    let b = Fixtures.bytes("bad", name)
    do {
        if name.hasSuffix(".npz") { _ = try NPZ.decode(b) } else { _ = try NPY.decode(b) }
        Issue.record("\(name) was accepted")
    } catch let e as NPYError {
        #expect(errorKind(e) == want, "\(name): \(e)")
        #expect(!e.description.isEmpty)
    }
}

@Test("npz written by np.savez and np.savez_compressed", arguments: ["stored.npz", "deflated.npz"])
func decodesNPZ(_ name: String) throws {
    let exp = (Fixtures.good[name] as! [String: Any])["members"] as! [String: [String: Any]]
    let arrays = try NPZ.decode(Fixtures.bytes("good", name))
    #expect(Set(arrays.keys) == Set(exp.keys))
    for (k, e) in exp {
        let a = try #require(arrays[k])
        #expect(a.shape == e["shape"] as! [Int])
        #expect(a.doubles() == (e["values"] as! [String]).map { Double($0)! })
    }
}

@Test("encode → decode round trip, .npy and .npz (stored and deflated)")
func roundTrip() throws {
    var rng = SeededRandom(#function, salt: 1)
    let shapes: [[Int]] = [[], [0], [7], [3, 5], [2, 0, 4], [2, 3, 4]]
    for s in shapes {
        let n = s.reduce(1, *)
        let f = (0..<n).map { _ in Float.random(in: -1e3...1e3, using: &rng) }
        let a = NPYArray(floats: f, shape: s)
        let back = try NPY.decode(NPY.encode(a))
        #expect(back == a)
        #expect(NPY.encode(a).count % 64 == 0 || n > 0)
        for c in [false, true] {
            let z = try NPZ.decode(NPZ.encode(["a": a, "b.c": NPYArray(int64s: [1, -2], shape: [2])], compressed: c))
            #expect(z["a"] == a)
            #expect(try z["b.c"]!.int64s() == [1, -2])
        }
    }
}

@Test("numpy reads what we write")
func numpyReadsOurs() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let a = NPYArray(floats: [1, 2.5, -3, 4, 5, 6], shape: [2, 3])
    try NPY.write(a, path: dir.appendingPathComponent("a.npy").path)
    try NPZ.write(["w": a], path: dir.appendingPathComponent("z.npz").path, compressed: true)
    let py = Process()
    py.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    py.arguments = [
        "python3", "-c",
        """
        import numpy as np, sys
        a = np.load(sys.argv[1]); z = np.load(sys.argv[2])['w']
        assert a.dtype == np.float32 and a.shape == (2, 3) and a.tolist() == [[1, 2.5, -3], [4, 5, 6]], a
        assert (z == a).all()
        print('ok')
        """, dir.appendingPathComponent("a.npy").path, dir.appendingPathComponent("z.npz").path,
    ]
    let pipe = Pipe(); py.standardOutput = pipe; py.standardError = pipe
    do { try py.run() } catch { return }  // no python: covered by the decode tests
    py.waitUntilExit()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    if out.contains("No module named") { return }
    #expect(py.terminationStatus == 0, "\(out)")
}

@Test("random byte corruption never crashes the reader")
func fuzzCorruption() throws {
    var g = SeededRandom(#function, salt: 2)
    for name in ["f4_le_C_2x3x4.npy", "deflated.npz", "stored.npz", "version_3_0.npy"] {
        let b = Fixtures.bytes("good", name)
        for _ in 0..<300 {
            var c = b
            for _ in 0..<Int.random(in: 1...4, using: &g) { c[Int.random(in: 0..<c.count, using: &g)] = UInt8.random(in: 0...255, using: &g) }
            _ = try? (name.hasSuffix(".npz") ? NPZ.decode(c).count : NPY.decode(c).count)
        }
    }
}
