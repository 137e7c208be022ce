import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure encoder throughput (windows/s) for each batch size and thread count.",
        discussion: "Prints one line per cell: median windows/s over the timed runs after a warm-up (at least 5 runs and --seconds per cell).")

    @OptionGroup var weightsOption: WeightsOption
    var weights: String { weightsOption.weights }
    @Option(help: "Comma-separated batch sizes (positive integers).") var batch = IntList([1, 8, 32, 128])
    @Option(help: "Comma-separated thread counts (positive integers).") var threads = IntList([1, 2])
    @Option(help: "Seconds to spend per cell (at least).") var seconds: Double = 2
    @Option(help: "Output format.") var format: BenchFormat = .table
    @Option(help: "Per-layer algorithms, six comma-separated of direct|dftM (default: the engine's choice).")
    var algorithms: String?

    @Flag(help: "Time each conv layer alone with each algorithm (fastest of many runs) and exit.")
    var layers = false

    @Flag(
        help:
            "Time what the server does per raw 10 s window besides the encoder (preprocessing at 256 Hz, signal-quality grading) against the encoder on one thread, and exit."
    )
    var servingPath = false

    func validate() throws {
        guard let a = algorithms else { return }
        let items = a.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if let bad = items.first(where: { ConvAlgorithm($0) == nil }) {
            throw ValidationError("--algorithms: '\(bad)' is not direct or dftM (M = 8, 16 or 32)")
        }
        guard items.count == 6 else { throw ValidationError("--algorithms needs six of direct|dftM, e.g. direct,dft32,dft16,dft16,direct,direct") }
    }

    /// Median milliseconds of `body` after a warm-up run, over at least `seconds` and 5 runs.
    func timed(_ body: () -> Void) -> (medianMs: Double, runs: Int) {
        body()
        var t: [Double] = []
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline || t.count < 5 {
            let s = DispatchTime.now().uptimeNanoseconds
            body()
            t.append(Double(DispatchTime.now().uptimeNanoseconds - s) / 1e6)
        }
        return (t.sorted()[t.count / 2], t.count)
    }

    func medianMs(_ body: () -> Void) -> Double { timed(body).medianMs }

    func servingPathBreakdown() throws {
        let net = try WeightsDirectory.loadNetwork(weights)
        // 10 s of ECG-like signal at 500 Hz (narrow R waves at 75 bpm on a slow baseline, a
        // little noise), so that resampling, the detector and the beat rules all do their work.
        var rng = SystemRandomNumberGenerator()
        let fs = 500.0
        let raw = (0..<5000).map { i -> Double in
            let t = Double(i) / fs, phase = t.truncatingRemainder(dividingBy: 0.8) - 0.4
            return exp(-phase * phase / (2 * 0.012 * 0.012)) + 0.2 * sin(2 * .pi * 0.3 * t) + Double.random(in: -0.03...0.03, using: &rng)
        }
        var prepared: [Float] = []
        let pre = medianMs {
            prepared =
                (try? Preprocessing.prepare(
                    raw, fs: fs, filter: Preprocessing.highpassFilter,
                    normalization: Preprocessing.windowNormalization))?.windows ?? []
        }
        guard prepared.count == EncoderGeometry.windowLength else { throw Failure("preprocessing gave \(prepared.count) samples") }
        let x = prepared.map(Double.init)
        let grade = HRVFeatures(peaks: RPeaks.detect(x, fs: EncoderGeometry.sampleRate), fs: EncoderGeometry.sampleRate, start: 0, end: x.count, signal: x)
        let quality = medianMs {
            _ = HRVFeatures(peaks: RPeaks.detect(x, fs: EncoderGeometry.sampleRate), fs: EncoderGeometry.sampleRate, start: 0, end: x.count, signal: x).quality
        }
        let ws = net.encoder.makeWorkspace()
        var out = [Float](repeating: 0, count: EncoderGeometry.embeddingSize)
        let enc = medianMs {
            prepared.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { op in
                    net.encoder.embed(xp, count: 1, into: op, threads: 1, workspaces: [ws])
                }
            }
        }
        print(
            String(
                format:
                    "per raw 10 s window at 500 Hz, one thread (median ms): preprocessing (resample, high-pass, z-score) %.3f, quality grading %.3f (%d beats, %@), encoder %.3f; preprocessing + quality = %.1f %% of the encoder",
                pre, quality, grade.beats, grade.quality.rawValue, enc, (pre + quality) / enc * 100))
    }

    func run() throws {
        if servingPath { try servingPathBreakdown(); return }
        if layers {
            let net = try WeightsDirectory.loadNetwork(weights)
            let cands: [[ConvAlgorithm]] = [
                [.direct], [.tiledDFT(tile: 32)], [.tiledDFT(tile: 32), .tiledDFT(tile: 16), .tiledDFT(tile: 8)],
                [.tiledDFT(tile: 16), .tiledDFT(tile: 8)], [.tiledDFT(tile: 16), .tiledDFT(tile: 8)],
                [.tiledDFT(tile: 16), .tiledDFT(tile: 8)], [.tiledDFT(tile: 16), .tiledDFT(tile: 8)],
            ]
            for i in 0..<6 {
                var line = "conv_layer_\(i + 1):"
                for a in [ConvAlgorithm.direct] + cands[i + 1] {
                    var algs = [ConvAlgorithm](repeating: .direct, count: 6); algs[i] = a
                    let e = Encoder(weights: net.encoder.weights, algorithms: algs)
                    line += String(format: "  %@ %.3f ms", a.description, e.timeLayer(i, reps: 200) * 1e3)
                }
                print(line)
            }
            return
        }
        var net = try WeightsDirectory.loadNetwork(weights)
        if let a = algorithms {
            let algs = a.split(separator: ",").compactMap { ConvAlgorithm(String($0)) }
            net = SSLNetwork(encoder: Encoder(weights: net.encoder.weights, algorithms: algs), tasks: net.tasks)
        }
        let batches = batch.values
        let threadCounts = threads.values
        var rng = SystemRandomNumberGenerator()
        if format == .table { print("kernels: \(Encoder.kernelName), layers: \(net.encoder.algorithms.map(\.description).joined(separator: ","))") }
        for t in threadCounts {
            for b in batches {
                let x = (0..<(b * EncoderGeometry.windowLength)).map { _ in Float.random(in: -2...2, using: &rng) }
                var out = [Float](repeating: 0, count: b * EncoderGeometry.embeddingSize)
                let wss = (0..<t).map { _ in net.encoder.makeWorkspace() }
                func once() {
                    x.withUnsafeBufferPointer { xp in
                        out.withUnsafeMutableBufferPointer { op in
                            net.encoder.embed(xp, count: b, into: op, threads: t, workspaces: wss)
                        }
                    }
                }
                let (ms, runs) = timed(once)
                let med = Double(b) / (ms / 1000)  // the median rate: rate is monotonic in time
                if format == .tsv {
                    print("ecg-affect\t\(b)\t\(t)\t\(String(format: "%.1f", med))")
                } else {
                    print(String(format: "batch %4d  threads %d  %8.1f windows/s  (%d runs)", b, t, med, runs))
                }
            }
        }
    }
}
