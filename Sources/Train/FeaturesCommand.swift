import ArgumentParser
import Foundation
import Model
import Training
import NPY

/// Heart rate, HRV and signal quality per 10 s window, computed by the code ecg-server runs.
struct FeaturesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "features",
        abstract: "Per 10 s window: beats, heart rate, SDNN, RMSSD and the quality indices, as ecg-server computes them.",
        discussion: """
            --corpus DIR: every record of DIR/manifest.csv at its own rate, as POST /features
            answers (R peaks over the whole record, then each consecutive 10 s window; each window's
            grade is the one /embed gives it, on the window preprocessed as --weights' manifest says).
            --data FILE: every window of a dataset made by `ecg-train prepare` (256 Hz,
            preprocessed), as /embed and /classify grade their windows.
            Writes one CSV row per window: record (or row), subject, label, start_s, beats,
            heart_rate_bpm, sdnn_ms, rmssd_ms, template_correlation, agreement (bSQI), kurtosis
            (kSQI), quality. Empty fields: not defined (too few beats).
            Examples:
              ecg-train features --corpus ../shared/data/ecg --labelled-only --out features.csv
              ecg-train features --data eval.npz --out window_features.csv
            """)

    @Option(help: "Corpus folder with manifest.csv.") var corpus: String?
    @Option(help: "Dataset .npz made by `ecg-train prepare`.") var data: String?
    @Flag(help: "With --corpus: only records labelled other than 'none'.") var labelledOnly = false
    @Option(help: "With --corpus: the weights whose preprocessing grades the windows.") var weights: String = "weights"
    @Option(help: "Output CSV.") var out: String
    @OptionGroup var quietOption: QuietOption

    func validate() throws {
        guard (corpus == nil) != (data == nil) else { throw ValidationError("give exactly one of --corpus DIR or --data FILE") }
    }

    static func row(_ f: HRVFeatures) -> String {
        func o(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.6g", $0) : "" } ?? "" }
        return "\(f.beats),\(o(f.heartRate)),\(o(f.sdnn)),\(o(f.rmssd)),\(o(f.templateCorrelation)),\(o(f.agreement)),\(o(f.kurtosis)),\(f.quality)"
    }

    func run() throws {
        var lines = ["record,subject,label,start_s,beats,heart_rate_bpm,sdnn_ms,rmssd_ms,template_correlation,agreement,kurtosis,quality"]
        if let dir = corpus {
            let rows = try PrepareCommand.readManifest(dir).filter { !labelledOnly || ($0.label != "none" && !$0.label.isEmpty) }
            let pipeline: Preprocessing.Pipeline
            do { pipeline = try Preprocessing.Pipeline(Manifest.load(directory: weights).input.preprocessing) } catch {
                throw Failure("--weights \(weights): \(error)")
            }
            let progress = Progress(total: rows.count, label: "features", enabled: !quietOption.quiet)
            for (k, r) in rows.enumerated() {
                let (x, fs) = try PrepareCommand.readRecord(dir + "/" + r.path)
                let peaks = RPeaks.detect(x, fs: fs)
                let win = Int((10 * fs).rounded())
                let prepared = try? pipeline.prepare(x, fs: fs)
                let n = EncoderGeometry.windowLength
                for w in 0..<(x.count / win) {
                    var f = HRVFeatures(peaks: peaks, fs: fs, start: w * win, end: (w + 1) * win)
                    if let p = prepared, w < p.count {
                        f = f.graded(as: HRVFeatures.window(p.windows[(w * n)..<((w + 1) * n)]))
                    } else {
                        f = HRVFeatures(peaks: peaks, fs: fs, start: w * win, end: (w + 1) * win, signal: x)
                    }
                    lines.append("\(r.dataset)/\(r.record),\(r.dataset)/\(r.subject),\(r.label),\(w * 10),\(Self.row(f))")
                }
                progress.update(k + 1)
            }
            progress.finish()
        } else if let path = data {
            let d: Dataset
            do { d = try Dataset.read(path: path) } catch { throw Failure("\(error)") }
            let n = EncoderGeometry.windowLength
            for i in 0..<d.count {
                let f = HRVFeatures.window(d.windows[(i * n)..<((i + 1) * n)])
                let label = d.label[i] >= 0 ? d.names.labels[Int(d.label[i])] : "none"
                lines.append("\(d.names.records[Int(d.record[i])]),\(d.names.subjects[Int(d.subject[i])]),\(label),\(i),\(Self.row(f))")
            }
        }
        do { try (lines.joined(separator: "\n") + "\n").write(toFile: out, atomically: true, encoding: .utf8) } catch {
            throw Failure("cannot write \(out): \(error)")
        }
        if !quietOption.quiet { print("wrote \(lines.count - 1) windows to \(out)") }
    }
}
