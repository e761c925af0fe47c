// Encoding throughput of a tokenizer on one core, for `idpo tokenize --benchmark`.

import Foundation
import Tokenizers

/// Measures how fast a tokenizer encodes.
public enum TokenizerBenchmark {
    /// Encodes `text` once to warm up, then repeatedly for at least `seconds`, on the calling thread,
    /// and returns the UTF-8 megabytes (10⁶ bytes) encoded per second. Text is encoded with special
    /// tokens parsed, as `encode` does by default; throws what `encode` throws.
    public static func megabytesPerSecond(tokenizer: Tokenizer, text: String, seconds: Double = 1.0) throws -> Double {
        let bytes = Double(text.utf8.count)
        guard bytes > 0 else { return 0 }
        var sink = try tokenizer.encode(text).count
        var runs = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            sink &+= try tokenizer.encode(text).count
            runs += 1
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < seconds
        if sink == Int.min { print(sink) }   // keep the work observable
        return bytes * Double(runs) / elapsed / 1e6
    }
}
