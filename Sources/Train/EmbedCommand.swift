import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Map (N, \(EncoderGeometry.windowLength)) ECG windows to (N, 128) float32 embeddings (the authors' extract_features.py).",
        discussion: """
            Input: a .npy of shape (N, \(EncoderGeometry.windowLength)) (or (\(EncoderGeometry.windowLength),) for one window), any float or int dtype.
            Windows must already be at 256 Hz. With --preprocessed they go to the network exactly
            as given (parity mode); without it each window is normalised as the weights'
            manifest says (robust z-score per window by default).
            Output: a float32 .npy of shape (N, 128), written atomically.

            Archives (--recordings DIR, instead of --in/--out): every .npz under DIR holding `ecg`
            and `fs` (the corpus layout; raw, at any rate), preprocessed as ecg-server does and
            embedded per 10 s window, one OUT-DIR/<relative path>.npy per recording. --shard i/n
            takes every n-th recording from the i-th (0-based, in sorted order), so n machines
            (e.g. a Kubernetes Indexed Job, deploy/kubernetes/embed-job.yaml) split an archive;
            a recording whose output exists is skipped (resumable); each shard writes
            OUT-DIR/shard-i-of-n.csv (input, output, windows, status).
            Example:
              ecg-train embed --weights weights --recordings archive/ --out-dir embeddings/ --shard 0/4
            """)

    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(name: .customLong("in"), help: "Input .npy of windows.") var input: String?
    @Option(help: "Output .npy of embeddings.") var out: String?
    @Option(help: "A directory of recordings (.npz with ecg and fs), instead of --in.") var recordings: String?
    @Option(help: "With --recordings: the output directory (one .npy per recording).") var outDir: String?
    @Option(help: "With --recordings: i/n, this shard of n (0-based).") var shard: String = "0/1"
    @Option(help: "Windows per engine call.") var batch: Int = 32
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }
    @Flag(help: "Send windows to the network as given, without normalisation.") var preprocessed = false
    @Option(
        help:
            "Embed with a randomly initialised encoder (Glorot-uniform, as pre-training starts, this seed) instead of --weights; needs --preprocessed. The baseline every pre-trained encoder must beat."
    )
    var randomInit: UInt64?
    @OptionGroup var quietOption: QuietOption
    var quiet: Bool { quietOption.quiet }

    func validate() throws {
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be between 1 and 4096") }
        guard randomInit == nil || preprocessed else {
            throw ValidationError("--random-init needs --preprocessed (a random encoder has no manifest to preprocess by)")
        }
        if recordings != nil {
            guard outDir != nil, input == nil, out == nil else { throw ValidationError("--recordings needs --out-dir (and no --in/--out)") }
            guard shardSpec != nil else { throw ValidationError("--shard must be i/n with 0 <= i < n, e.g. 0/4") }
        } else {
            guard input != nil, out != nil else { throw ValidationError("give --in and --out (or --recordings and --out-dir)") }
        }
    }

    var shardSpec: (index: Int, count: Int)? {
        let p = shard.split(separator: "/")
        guard p.count == 2, let i = Int(p[0]), let n = Int(p[1]), n >= 1, i >= 0, i < n else { return nil }
        return (i, n)
    }

    func run() throws {
        if let dir = recordings { return try runArchive(dir) }
        let input = self.input!, outPath = self.out!
        let net: SSLNetwork
        var pipeline = try Preprocessing.Pipeline(filter: "none", normalization: "none")
        do {
            if let s = randomInit { net = try Pretrainer.glorotInit(seed: s) } else { net = try WeightsDirectory.loadNetwork(weights) }
            if !preprocessed, let m = try? Manifest.load(directory: weights) { pipeline = try Preprocessing.Pipeline(m.input.preprocessing) }
        } catch { throw Failure("cannot load weights: \(error)") }
        let arr: NPYArray
        do { arr = try NPY.read(path: input) } catch { throw Failure("\(input): \(error)") }
        let w = EncoderWeights.windowLength
        guard (arr.shape.count == 2 && arr.shape[1] == w) || arr.shape == [w] else {
            throw Failure("\(input): windows must have shape (N, \(w)) or (\(w),), found \(arr.shape)")
        }
        var x = arr.floats()
        let n = x.count / w
        if let bad = x.firstIndex(where: { !$0.isFinite }) {
            throw Failure("\(input): window \(bad / w) (row \(bad / w)) has a NaN or Inf at sample \(bad % w)")
        }
        if !preprocessed {
            // Each row is a 10 s recording at 256 Hz: the manifest's filter and normalisation.
            for i in 0..<n {
                let row = x[(i * w)..<((i + 1) * w)].map(Double.init)
                do {
                    let p = try pipeline.prepare(row, fs: 256)
                    x.replaceSubrange((i * w)..<((i + 1) * w), with: p.windows)
                } catch { throw Failure("\(input): row \(i): \(error)") }
            }
        }
        var out = [Float](repeating: 0, count: n * EncoderGeometry.embeddingSize)
        let progress = Progress(total: n, label: "embed", enabled: !quiet)
        let wss = (0..<threads).map { _ in net.encoder.makeWorkspace() }
        var done = 0
        while done < n {
            let b = min(batch, n - done)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    net.encoder.embed(
                        UnsafeBufferPointer(rebasing: xp[(done * w)...]), count: b,
                        into: UnsafeMutableBufferPointer(rebasing: op[(done * EncoderGeometry.embeddingSize)...]), threads: threads, workspaces: wss)
                }
            }
            done += b
            progress.update(done)
        }
        progress.finish()
        do { try NPY.write(NPYArray(floats: out, shape: [n, EncoderGeometry.embeddingSize]), path: outPath) } catch {
            throw Failure("cannot write \(outPath): \(error)")
        }
    }

    /// --recordings: this shard's recordings, one embeddings file each, skipping those done.
    func runArchive(_ dir: String) throws {
        let (index, count) = shardSpec!
        let net: SSLNetwork, manifest: Manifest
        do { net = try WeightsDirectory.loadNetwork(weights); manifest = try Manifest.load(directory: weights) } catch {
            throw Failure("cannot load weights: \(error)")
        }
        let pipeline: Preprocessing.Pipeline
        do { pipeline = try Preprocessing.Pipeline(manifest.input.preprocessing) } catch { throw Failure("\(weights): \(error)") }
        let fm = FileManager.default
        guard let walker = fm.enumerator(atPath: dir) else { throw Failure("\(dir): not a directory") }
        let all = walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".npz") }.sorted()
        let mine = all.enumerated().filter { $0.offset % count == index }.map(\.element)
        let outDir = self.outDir!
        var rows = ["input,output,windows,status"]
        let progress = Progress(total: mine.count, label: "embed shard \(index)/\(count)", enabled: !quiet)
        var done = 0, skipped = 0, failed = 0
        for (k, rel) in mine.enumerated() {
            let outPath = outDir + "/" + String(rel.dropLast(4)) + ".npy"
            if fm.fileExists(atPath: outPath) {
                let n = (try? NPY.read(path: outPath))?.shape.first ?? -1
                rows.append("\(rel),\(outPath),\(n),done before"); skipped += 1
                progress.update(k + 1); continue
            }
            do {
                let (x, fs) = try PrepareCommand.readRecord(dir + "/" + rel)
                let p = try pipeline.prepare(x, fs: fs)
                let e = try net.encoder.embed(p.windows, threads: threads)
                try fm.createDirectory(atPath: (outPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try NPY.write(NPYArray(floats: e, shape: [p.count, EncoderGeometry.embeddingSize]), path: outPath)
                rows.append("\(rel),\(outPath),\(p.count),embedded"); done += 1
            } catch {
                rows.append("\(rel),,0,\"failed: \(String(describing: error).replacingOccurrences(of: "\"", with: "'"))\""); failed += 1
            }
            progress.update(k + 1)
        }
        progress.finish()
        try fm.createDirectory(atPath: outDir, withIntermediateDirectories: true)
        let summary = outDir + "/shard-\(index)-of-\(count).csv"
        do { try writeFileAtomically(Array((rows.joined(separator: "\n") + "\n").utf8), path: summary) } catch {
            throw Failure("cannot write \(summary): \(error)")
        }
        if !quiet {
            print("shard \(index)/\(count): \(mine.count) of \(all.count) recordings; \(done) embedded, \(skipped) done before, \(failed) failed; \(summary)")
        }
        if failed > 0 { throw Failure("\(failed) recordings failed (see \(summary))") }
    }
}
