import Foundation
import ModelTestSupport
import Testing
import NPY
@testable import Model
@testable import Training

@Suite struct WeightsImport {
    func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("ecgw-\(UUID())").path
        try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test("importing the TF checkpoint gives tensors bit-identical to weights.npz")
    func checkpointBitIdentical() throws {
        let ckpt = try TFCheckpoint.read(prefix: TF.path("checkpoint/SSL_model.ckpt"))
        #expect(ckpt.count == 165, "all variables incl. Adam slots: \(ckpt.count)")
        let npz = TF.npz("weights.npz")
        #expect(npz.count == 54)
        for (k, v) in npz {
            let name = TensorSet.normalise(k)
            let c = try #require(ckpt[name], "\(name) missing from checkpoint")
            #expect(c.shape == v.shape && c.data == v.data, "\(name) differs")
        }
    }

    @Test(
        "import → weights directory → load round trip, from checkpoint and from npz",
        arguments: ["checkpoint/SSL_model.ckpt", "weights.npz"])
    func roundTrip(_ src: String) throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (net, ignored) = try WeightsDirectory.importTensors(from: TF.path(src))
        #expect(ignored.isEmpty)  // the checkpoint reader skips non-network tensors unread
        _ = try WeightsDirectory.write(
            net, to: dir, preprocessing: .init(filter: "none", normalization: "none"),
            provenance: .init(description: "test", datasets: [], licenses: [], command: "test", created: "now"))
        let back = try WeightsDirectory.loadNetwork(dir)
        let written = try NPZ.read(path: dir + "/encoder.npz")
        for (k, v) in TF.npz("weights.npz") { #expect(written[k]?.data == v.data, "\(k)") }
        let e = try back.encoder.embed(TF.inputs)
        #expect(relErr(e, TF.embedding) <= 1e-5)
        #expect(back.tasks.count == 7)
    }

    @Test("a corrupted byte anywhere in the .index is reported, not loaded")
    func corruptIndex() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let idx = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TF.path("checkpoint/SSL_model.ckpt.index"))))
        let data = try Data(contentsOf: URL(fileURLWithPath: TF.path("checkpoint/SSL_model.ckpt.data-00000-of-00001")))
        try data.write(to: URL(fileURLWithPath: dir + "/m.data-00000-of-00001"))
        var g = Rng(s: 42)
        // Every byte of the first and last blocks, then a spread of positions.
        var positions = Array(0..<64) + Array((idx.count - 64)..<idx.count)
        for _ in 0..<100 { positions.append(Int(g.next() % UInt64(idx.count))) }
        for p in positions {
            var c = idx; c[p] ^= 0x5A
            try Data(c).write(to: URL(fileURLWithPath: dir + "/m.index"))
            do {
                _ = try TFCheckpoint.read(prefix: dir + "/m")
                // Only the footer's padding bytes are not covered by a checksum or the magic.
                let footerPad = (idx.count - 48)..<(idx.count - 8)
                #expect(footerPad.contains(p), "flip at \(p) of \(idx.count) loaded silently")
            } catch let e as CheckpointError {
                #expect(!e.description.isEmpty)
            }
        }
    }

    @Test("a corrupted byte in the .data shard is reported with the tensor's name")
    func corruptData() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let idx = try Data(contentsOf: URL(fileURLWithPath: TF.path("checkpoint/SSL_model.ckpt.index")))
        try idx.write(to: URL(fileURLWithPath: dir + "/m.index"))
        let entries = try TFCheckpoint.parseIndex([UInt8](idx))
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TF.path("checkpoint/SSL_model.ckpt.data-00000-of-00001"))))
        for name in ["conv_layer_1/kernel", "conv_layer_6/bias", "task_3_dense_2/kernel"] {
            let e = try #require(entries.first { $0.name == name })
            var c = data; c[e.offset + e.size / 2] ^= 1
            try Data(c).write(to: URL(fileURLWithPath: dir + "/m.data-00000-of-00001"))
            #expect(throws: CheckpointError.self) { _ = try TFCheckpoint.read(prefix: dir + "/m") }
            do { _ = try WeightsDirectory.importTensors(from: dir + "/m") } catch {
                #expect("\(error)".contains(name), "\(error)")
            }
        }
        // A truncated shard.
        try Data(data.prefix(data.count - 10)).write(to: URL(fileURLWithPath: dir + "/m.data-00000-of-00001"))
        #expect(throws: CheckpointError.self) { _ = try TFCheckpoint.read(prefix: dir + "/m") }
    }

    @Test("a corrupted weights .npz or a tampered weights directory is refused")
    func corruptNPZAndChecksum() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TF.path("weights.npz"))))
        b[b.count / 2] ^= 0xFF
        try Data(b).write(to: URL(fileURLWithPath: dir + "/bad.npz"))
        #expect(throws: (any Error).self) { _ = try WeightsDirectory.importTensors(from: dir + "/bad.npz") }
        let (net, _) = try WeightsDirectory.importTensors(from: TF.path("weights.npz"))
        _ = try WeightsDirectory.write(
            net, to: dir + "/w", preprocessing: .init(filter: "none", normalization: "none"),
            provenance: .init(description: "t", datasets: [], licenses: [], command: "t", created: "t"))
        var enc = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/w/encoder.npz")))
        enc[100] ^= 1
        try Data(enc).write(to: URL(fileURLWithPath: dir + "/w/encoder.npz"))
        #expect(throws: WeightsError.self) { _ = try WeightsDirectory.loadNetwork(dir + "/w") }
    }

    @Test("missing or mis-shaped tensors are named with the shape expected and found")
    func missingAndMisShaped() throws {
        var raw = TF.npz("weights.npz")
        raw.removeValue(forKey: "conv_layer_3.bias")
        #expect(throws: WeightsError.missingTensor(name: "conv_layer_3/bias", expectedShape: [64])) {
            _ = try SSLNetwork(tensors: TensorSet(raw))
        }
        raw = TF.npz("weights.npz")
        raw["conv_layer_2.kernel"] = NPYArray(floats: [Float](repeating: 0, count: 16 * 32 * 32), shape: [16, 32, 32])
        #expect(throws: WeightsError.wrongShape(name: "conv_layer_2/kernel", expected: [32, 32, 32], found: [16, 32, 32])) {
            _ = try SSLNetwork(tensors: TensorSet(raw))
        }
        raw = TF.npz("weights.npz")
        raw["task_4_dense_2.bias"] = NPYArray(doubles: [Double](repeating: 0, count: 128), shape: [128])
        #expect(throws: WeightsError.wrongDType(name: "task_4_dense_2/bias", found: "f8")) {
            _ = try SSLNetwork(tensors: TensorSet(raw))
        }
        raw = TF.npz("weights.npz")
        raw.removeValue(forKey: "task_6.kernel")
        #expect(throws: WeightsError.missingTensor(name: "task_6/kernel", expectedShape: [128, 1])) {
            _ = try SSLNetwork(tensors: TensorSet(raw))
        }
    }
}

@Suite struct FuzzRegressions {
    /// Inputs that crashed a parser under libFuzzer (scripts/fuzz.sh); each must now be
    /// refused with the parser's error.
    @Test("TF checkpoint index whose block size is near Int.max (overflowed size + 5)")
    func checkpointBlockSize() throws {
        let b = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TF.path("fuzz/checkpoint-block-size-overflow.index"))))
        #expect(throws: CheckpointError.self) { _ = try TFCheckpoint.parseIndex(b) }
    }
}

@Suite struct ShippedWeights {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("weights").path

    @Test("the committed weights match the SHA-256 in their manifest, and load")
    func hashes() throws {
        let m = try Manifest.load(directory: Self.dir)
        _ = try Manifest.readChecked(directory: Self.dir, m.encoder)
        for h in m.heads { _ = try Manifest.readChecked(directory: Self.dir, .init(file: h.file, sha256: h.sha256)) }
        for f in m.reportFiles { _ = try Manifest.readChecked(directory: Self.dir, f) }
        let net = try m.loadNetwork(directory: Self.dir)
        #expect(net.tasks.count == 7)
        #expect(!m.heads.isEmpty)
        // The heads' evaluation against the baselines (issue #17's protocol), with intervals and
        // exactly named metrics, with and without a personal baseline; each head's figures are
        // those of a row of the report the manifest names.
        let e = try #require(m.evaluations?.first { $0.head == "stress" })
        #expect(Set(e.models.map(\.name)).isSuperset(of: ["heart rate (NeuroKit2 R peaks, one window)", "heart rate (ecg-affect R peaks)"]))
        for mo in e.models {
            #expect(mo.balancedAccuracyCI95?.count == 2 && mo.rocAUCCI95?.count == 2 && mo.brierPStress != nil && mo.brier == nil, "\(mo.name)")
        }
        #expect(m.evaluations?.contains { $0.head.contains("baseline") } == true)
        #expect(Set(m.heads.map { $0.inputs?.needsBaseline ?? false }) == [false, true])
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.dir + "/" + e.report.file))) as? [String: [String: Any]])
        for h in m.heads {
            let ba = try #require(h.metrics?["balanced_accuracy"])
            #expect(report.values.contains { ($0["balanced_accuracy"] as? Double) == ba }, "\(h.file)")
        }
        let v = try #require(m.pretextValidation)
        #expect(Set(v.f1.keys) == Set(EncoderGeometry.transformations))
    }
}
