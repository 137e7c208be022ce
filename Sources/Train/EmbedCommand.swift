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
        """)

    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(name: .customLong("in"), help: "Input .npy of windows.") var input: String
    @Option(help: "Output .npy of embeddings.") var out: String
    @Option(help: "Windows per engine call.") var batch: Int = 32
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int { threadsOption.threads }
    @Flag(help: "Send windows to the network as given, without normalisation.") var preprocessed = false
    @Option(help: "Embed with a randomly initialised encoder (Glorot-uniform, as pre-training starts, this seed) instead of --weights; needs --preprocessed. The baseline every pre-trained encoder must beat.")
    var randomInit: UInt64?
    @OptionGroup var quietOption: QuietOption
    var quiet: Bool { quietOption.quiet }

    func validate() throws {
        guard batch >= 1, batch <= 4096 else { throw ValidationError("--batch must be between 1 and 4096") }
        guard randomInit == nil || preprocessed else { throw ValidationError("--random-init needs --preprocessed (a random encoder has no manifest to preprocess by)") }
    }

    func run() throws {
        let net: SSLNetwork
        var pre = Manifest.Preprocessing(filter: "none", normalization: "none")
        do {
            if let s = randomInit { net = try PretrainCommand.glorotInit(seed: s) } else { net = try WeightsDirectory.loadNetwork(weights) }
            if !preprocessed, let m = try? Manifest.load(directory: weights) { pre = m.input.preprocessing }
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
                    let p = try Preprocessing.prepare(row, fs: 256, filter: pre.filter, normalization: pre.normalization, polarity: pre.polarity)
                    x.replaceSubrange((i * w)..<((i + 1) * w), with: p.windows)
                } catch { throw Failure("\(input): row \(i): \(error)") }
            }
        }
        var out = [Float](repeating: 0, count: n * 128)
        let progress = Progress(total: n, label: "embed", enabled: !quiet)
        let wss = (0..<threads).map { _ in net.encoder.makeWorkspace() }
        var done = 0
        while done < n {
            let b = min(batch, n - done)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    net.encoder.embed(UnsafeBufferPointer(rebasing: xp[(done * w)...]), count: b,
                                      into: UnsafeMutableBufferPointer(rebasing: op[(done * 128)...]), threads: threads, workspaces: wss)
                }
            }
            done += b
            progress.update(done)
        }
        progress.finish()
        do { try NPY.write(NPYArray(floats: out, shape: [n, 128]), path: self.out) } catch {
            throw Failure("cannot write \(self.out): \(error)")
        }
    }
}
