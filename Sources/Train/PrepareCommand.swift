import ArgumentParser
import Foundation
import Model
import Training
import NPY

struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Turn a corpus of ECG records into one dataset file of 10 s windows at 256 Hz.",
        discussion: """
            --corpus DIR: a folder with manifest.csv (columns path, dataset, subject, record, label,
            fs, quality, …) and one .npz per record holding `ecg` (samples) and `fs` (Hz), as
            ../shared/data/ecg is laid out. Each record is resampled to 256 Hz, filtered (--filter,
            zero phase; default: high-pass 0.8 Hz, low-pass 40 Hz, notches at 50 and 60 Hz, what
            ecg-server applies to weights whose manifest names it), cut into 10 s windows
            (--overlap percent) and normalised:
              window     robust z-score of each window (as ecg-server does; default)
              recording  mean and central-95 % std of the whole record
              subject    mean of all the subject's samples, std over the central 95 % of them
                         (exactly the authors' per-subject statistic)
            --polarity qrs-up negates every record whose QRS complexes point down (after the
            filter; the rule is Preprocessing.qrsPolarity's, the one ecg-server applies when the
            weights' manifest says "polarity": "qrs-up"), so that every window has its R waves
            upwards whatever the lead; keep (default) leaves the sign as recorded.
            Records with quality=poor are skipped unless --include-poor.
            --augment hum,noise,wander adds interference to each raw record at its own rate before
            anything else (hum: 50 or 60 Hz at 2-20 % of the range; noise: white at 15-30 dB SNR;
            wander: 0.1-0.5 Hz at 10-100 % of the range; strengths drawn per record from
            --augment-seed). The windows keep the order and count of the same command without
            --augment, so the two files align row by row (ecg-train fit-head --augmented,
            scripts/stress_protocol.py --augmented).
            --unlabelled-subjects-only keeps only the subjects none of whose records carries a
            label (every record of a labelled person is left out, their unlabelled phases too):
            the pre-training corpus of a protocol in which the labelled people are never seen.
            --npy FILE --layout person,label: the authors' 2-D layout instead (id/label columns,
            then \(EncoderGeometry.windowLength) samples at 256 Hz, already normalised).
            Output: one .npz (windows, subject, dataset, record, label, names), written atomically.
            """)

    @Option(help: "Corpus folder with manifest.csv.") var corpus: String?
    @Option(help: "A 2-D .npy in the authors' layout (instead of --corpus).") var npy: String?
    @Option(help: "Leading columns of --npy, comma-separated, e.g. person,label.") var layout: String = "person,label"
    @Option(help: "Output dataset .npz.") var out: String
    @Option(help: "Window overlap in percent (0 ≤ P < 100).") var overlap: Double = 0
    @Option(help: "What each window is z-scored with: its own statistics, its recording's, or its subject's.") var normalize: Normalization = .window
    @Option(
        help:
            "keep: the sign as recorded; qrs-up: negate records whose QRS points down (quantile rule); qrs-t-down-beats: negate records whose QRS and T wave both point down at the detected beats."
    )
    var polarity: Polarity = .keep
    @Option(help: "Filter: \(Preprocessing.bandFilter) (default), \(Preprocessing.highpassFilter) (before issue #17) or none.")
    var filter: String = Preprocessing.bandFilter
    @Option(help: "Add interference to every raw record before preprocessing (comma-separated: hum, noise, wander), for training heads that hold under it.")
    var augment: String?
    @Option(help: "Seed of --augment (each record's draw depends only on it and the record's place).") var augmentSeed: UInt64 = 1
    @Flag(help: "Keep records whose quality is 'poor'.") var includePoor = false
    @Flag(help: "Leave out every subject with at least one labelled record (pre-training corpus for a never-seen protocol).")
    var unlabelledSubjectsOnly = false
    @OptionGroup var quietOption: QuietOption
    var quiet: Bool { quietOption.quiet }

    func validate() throws {
        guard (corpus == nil) != (npy == nil) else { throw ValidationError("give exactly one of --corpus DIR or --npy FILE") }
        guard overlap >= 0, overlap < 100 else { throw ValidationError("--overlap must be in [0, 100)") }
        if let a = augment {
            guard corpus != nil else { throw ValidationError("--augment needs --corpus (it acts on raw records)") }
            if case .failure(let bad) = Augmentation.kinds(a) {
                throw ValidationError(
                    "--augment: unknown kind '\(bad.name)'; use a comma-separated list of \(Augmentation.Kind.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
        }
        guard Preprocessing.sections(forFilter: filter) != nil else {
            throw ValidationError("--filter '\(filter)' is unknown: use \(Preprocessing.bandFilter), \(Preprocessing.highpassFilter) or none")
        }
    }

    func run() throws {
        let d: Dataset
        do { d = try corpus != nil ? fromCorpus(corpus!) : fromAuthorsNPY(npy!) } catch let e as Failure { throw e } catch {
            throw Failure("\(error)")
        }
        guard d.count > 0 else { throw Failure("no windows: every record was shorter than 10 s or skipped") }
        do { try d.write(path: out) } catch { throw Failure("cannot write \(out): \(error)") }
        print(
            "wrote \(d.count) windows from \(d.names.records.count) records of \(d.names.subjects.count) subjects (\(d.names.datasets.joined(separator: ", "))) to \(out)"
        )
    }

    struct Row { var path, dataset, subject, record, label, quality: String }

    static func readManifest(_ dir: String) throws -> [Row] {
        let path = dir + "/manifest.csv"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw Failure("\(path) not found or not UTF-8") }
        var lines = text.split(whereSeparator: \.isNewline).map(String.init)
        guard !lines.isEmpty else { throw Failure("\(path) is empty") }
        let header = lines.removeFirst().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        func col(_ n: String) throws -> Int {
            guard let i = header.firstIndex(of: n) else { throw Failure("\(path): no column '\(n)'") }
            return i
        }
        let (ip, id, isub, irec, ilab) = (try col("path"), try col("dataset"), try col("subject"), try col("record"), try col("label"))
        let iq = header.firstIndex(of: "quality")
        return try lines.enumerated().map { k, l in
            let f = l.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= header.count else { throw Failure("\(path) line \(k + 2): \(f.count) fields, expected \(header.count)") }
            return Row(path: f[ip], dataset: f[id], subject: f[isub], record: f[irec], label: f[ilab], quality: iq.map { f[$0] } ?? "ok")
        }
    }

    /// One record of a corpus: its samples (first channel) and rate.
    static func readRecord(_ file: String) throws -> ([Double], Double) {
        let z: [String: NPYArray]
        do { z = try NPZ.read(path: file) } catch { throw Failure("\(file): \(error)") }
        guard let e = z["ecg"], let f = z["fs"] else { throw Failure("\(file): needs arrays 'ecg' and 'fs'") }
        let fs = f.doubles().first ?? 0
        var x = e.doubles()
        if e.shape.count == 2 { x = stride(from: 0, to: x.count, by: e.shape[1]).map { x[$0] } }  // first channel
        if let bad = x.firstIndex(where: { !$0.isFinite }) { throw Failure("\(file): sample \(bad) is NaN or Inf") }
        return (x, fs)
    }

    func fromCorpus(_ dir: String) throws -> Dataset {
        var rows = try Self.readManifest(dir)
        if unlabelledSubjectsOnly {
            let labelled = Set(rows.filter { !$0.label.isEmpty && $0.label != "none" }.map { $0.dataset + "/" + $0.subject })
            let before = Set(rows.map { $0.dataset + "/" + $0.subject }).count
            rows = rows.filter { !labelled.contains($0.dataset + "/" + $0.subject) }
            if !quiet { print("left out \(labelled.count) labelled subjects of \(before) (all their records)") }
        }
        rows = rows.filter { includePoor || $0.quality != "poor" }
        let sos = Preprocessing.sections(forFilter: filter)!
        var d = Dataset()
        d.names.preprocessing = ["filter": filter, "normalization": normalize.rawValue, "overlap_percent": "\(overlap)"]
        if polarity != .keep { d.names.preprocessing["polarity"] = polarity.rawValue }
        let kinds: [Augmentation.Kind] = augment.flatMap { try? Augmentation.kinds($0).get() } ?? []
        if !kinds.isEmpty { d.names.preprocessing["augment"] = kinds.map(\.rawValue).joined(separator: ",") + " seed \(augmentSeed)" }
        var turned: [String] = []
        var flipped = 0
        var signals: [(row: Row, y: [Double])] = []
        var augmented = 0
        let progress = Progress(total: rows.count, label: "prepare", enabled: !quiet)
        for (k, r) in rows.enumerated() {
            let file = dir + "/" + r.path
            var (x, fs) = try Self.readRecord(file)
            if !kinds.isEmpty {
                var rng = Transformations.RNG(seed: Augmentation.recordSeed(augmentSeed, index: k))
                Augmentation.apply(kinds, to: &x, fs: fs, rng: &rng)
                augmented += 1
            }
            guard let (up, down) = Preprocessing.ratio(from: fs) else { throw Failure("\(file): sampling rate \(fs) Hz is not supported") }
            var y = Preprocessing.resamplePoly(x, up: up, down: down)
            if y.count >= EncoderGeometry.windowLength, !sos.isEmpty { y = Preprocessing.sosfiltfilt(sos, y) }
            if polarity != .keep, Preprocessing.turnUp(&y, rule: polarity.rawValue) { flipped += 1; turned.append(r.dataset + "/" + r.record) }
            signals.append((r, y))
            progress.update(k + 1)
        }
        progress.finish()
        if augmented > 0 && !quiet { print("augmented \(augmented) records with \(d.names.preprocessing["augment"] ?? "")") }
        if polarity != .keep && !quiet {
            print("polarity (\(polarity.rawValue)): negated \(flipped) of \(signals.count) records: \(turned.joined(separator: " "))")
        }
        // Subject statistics over all of a subject's samples (the authors' normalisation).
        var subjectStats: [String: (Double, Double)] = [:]
        if normalize == .subject {
            var bySubject: [String: [Float]] = [:]
            for s in signals { bySubject[s.row.dataset + "/" + s.row.subject, default: []].append(contentsOf: s.y.map(Float.init)) }
            for (k, v) in bySubject { subjectStats[k] = v.withUnsafeBufferPointer { Preprocessing.robustStats($0) } }
        }
        func index(_ list: inout [String], _ s: String) -> Int64 {
            if let i = list.firstIndex(of: s) { return Int64(i) }
            list.append(s); return Int64(list.count - 1)
        }
        let step = max(1, Int((Double(EncoderGeometry.windowLength) * (1 - overlap / 100)).rounded()))
        for s in signals where s.y.count >= EncoderGeometry.windowLength {
            var stats: (Double, Double)? = nil
            if normalize == .recording { let f = s.y.map(Float.init); stats = f.withUnsafeBufferPointer { Preprocessing.robustStats($0) } }
            if normalize == .subject { stats = subjectStats[s.row.dataset + "/" + s.row.subject] }
            let sub = index(&d.names.subjects, s.row.dataset + "/" + s.row.subject)
            let ds = index(&d.names.datasets, s.row.dataset)
            let rec = index(&d.names.records, s.row.dataset + "/" + s.row.record)
            let lab: Int64 = s.row.label.isEmpty || s.row.label == "none" ? -1 : index(&d.names.labels, s.row.label)
            var start = 0
            while start + EncoderGeometry.windowLength <= s.y.count {
                var w = s.y[start..<(start + EncoderGeometry.windowLength)].map(Float.init)
                if let (mean, sd) = stats {
                    let scale = sd > 1e-12 ? 1 / sd : 1
                    for i in 0..<EncoderGeometry.windowLength { w[i] = Float((Double(w[i]) - mean) * scale) }
                } else {
                    w.withUnsafeMutableBufferPointer { Preprocessing.robustZScore($0) }
                }
                d.windows.append(contentsOf: w)
                d.subject.append(sub); d.dataset.append(ds); d.record.append(rec); d.label.append(lab)
                start += step
            }
        }
        return d
    }

    func fromAuthorsNPY(_ path: String) throws -> Dataset {
        let a: NPYArray
        do { a = try NPY.read(path: path) } catch { throw Failure("\(path): \(error)") }
        let cols = layout.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard a.shape.count == 2, a.shape[1] == cols.count + EncoderGeometry.windowLength else {
            throw Failure("\(path): shape \(a.shape), expected (N, \(cols.count) + \(EncoderGeometry.windowLength)) for --layout \(layout)")
        }
        let v = a.doubles(), w = a.shape[1]
        var d = Dataset()
        d.names.preprocessing = ["source": "authors' layout \(layout)"]
        d.names.datasets = [URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent]
        for r in 0..<a.shape[0] {
            var sub: Int64 = 0, lab: Int64 = -1
            for (c, name) in cols.enumerated() {
                let x = v[r * w + c]
                guard x.isFinite, x == x.rounded() else { throw Failure("\(path): row \(r), column \(c) ('\(name)') is \(x), not an integer") }
                if name == "person" || name == "subject" { sub = Int64(x) }
                if name == "label" { lab = Int64(x) }
            }
            let samples = v[(r * w + cols.count)..<((r + 1) * w)]
            if let bad = samples.firstIndex(where: { !$0.isFinite }) {
                throw Failure("\(path): row \(r) has a NaN or Inf at sample \(bad - r * w - cols.count)")
            }
            d.windows.append(contentsOf: samples.map(Float.init))
            d.subject.append(sub); d.dataset.append(0); d.record.append(Int64(r)); d.label.append(lab)
        }
        d.names.subjects = Set(d.subject).sorted().map { "\($0)" }
        d.subject = d.subject.map { s in Int64(d.names.subjects.firstIndex(of: "\(s)")!) }
        d.names.labels = Set(d.label.filter { $0 >= 0 }).sorted().map { "\($0)" }
        d.label = d.label.map { l in l < 0 ? -1 : Int64(d.names.labels.firstIndex(of: "\(l)")!) }
        d.names.records = (0..<a.shape[0]).map { "row \($0)" }
        return d
    }
}
