using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;
using Stratum.Storage.Format;
using Stratum.Storage.Native;

/// <summary>
/// The ingest budget (issue 4, "70% of cp"): the CPU cost of each stage of a write, one stage at a time
/// on one thread over the benchmark's own files, in CPU-seconds per GB of input. Thread CPU time
/// (CLOCK_THREAD_CPUTIME_ID), so other processes on the machine change wall times but hardly these.
/// Every stage runs the engine's own code (FastCdc, ChunkId, Zstd, ChunkRecord, LocalDirectoryBackend).
/// </summary>
internal static partial class StageCosts
{
    private const int ThreadCpuClock = 3; // CLOCK_THREAD_CPUTIME_ID

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static async Task<object> MeasureAsync(IReadOnlyList<string> files, string work, KeyRing keys, int rounds)
    {
        // Whole files in memory, so reading is measured once (as its own stage) and not inside the others.
        var contents = files.Select(File.ReadAllBytes).ToList();
        long total = contents.Sum(c => (long)c.Length);
        var chunker = new FastCdc(new ChunkingOptions());
        var level = new ChunkStoreOptions().CompressionLevel;
        var stages = new List<Stage>();

        void Add(string name, string note, Func<long> body)
        {
            var best = double.MaxValue;
            var wall = double.MaxValue;
            long outputBytes = 0;
            for (var round = 0; round < rounds; round++)
            {
                var watch = Stopwatch.StartNew();
                var before = ThreadCpu();
                outputBytes = body();
                best = Math.Min(best, ThreadCpu() - before);
                wall = Math.Min(wall, watch.Elapsed.TotalSeconds);
            }

            var stage = new Stage(name, best / (total / 1e9), total / best / 1e6, wall / (total / 1e9), outputBytes, note);
            stages.Add(stage);
            Console.Error.WriteLine($"  {name,-44} {stage.CpuSecondsPerGB,6:F3} CPU-s/GB  {stage.MBPerCpuSecond,7:F0} MB/cpu-s");
        }

        Console.Error.WriteLine($"stage costs over {files.Count} files, {total / 1e6:F0} MB, best of {rounds}, one thread:");

        Add("read (FileStream, page cache)", "reading the files into an 8 MiB buffer, as the producer does", () =>
        {
            var buffer = new byte[8 << 20];
            long read = 0;
            foreach (var path in files)
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
                int n;
                while ((n = stream.Read(buffer)) > 0)
                {
                    read += n;
                }
            }

            return read;
        });

        var chunks = new List<(byte[] Content, int Start, int Length)>();
        Add("FastCDC cut", "the producer's sequential pass", () =>
        {
            chunks.Clear();
            foreach (var content in contents)
            {
                for (var start = 0; start < content.Length;)
                {
                    var length = chunker.Cut(content.AsSpan(start, Math.Min(chunker.MaxSize, content.Length - start)));
                    chunks.Add((content, start, length));
                    start += length;
                }
            }

            return chunks.Count;
        });

        var copies = chunks.Select(c => new byte[c.Length]).ToArray();
        Add("copy each chunk out of the read buffer", "the producer's per-chunk copy into a pooled buffer", () =>
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                Buffer.BlockCopy(chunks[i].Content, chunks[i].Start, copies[i], 0, chunks[i].Length);
            }

            return total;
        });

        var ids = new ChunkId[chunks.Count];
        Add("SHA-256 per chunk (the chunk id)", "parallel: the workers", () =>
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                ids[i] = ChunkId.Of(chunks[i].Content.AsSpan(chunks[i].Start, chunks[i].Length));
            }

            return chunks.Count;
        });

        Add("SHA-256 of the content", "sequential per file: its own task", () =>
        {
            foreach (var content in contents)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                foreach (var chunk in chunks.Where(c => c.Content == content))
                {
                    hash.AppendData(chunk.Content, chunk.Start, chunk.Length);
                }

                _ = hash.GetHashAndReset();
            }

            return contents.Count;
        });

        Add("MD5 of the content (whole)", "sequential per file: the S3 single-PUT ETag", () =>
        {
            foreach (var content in contents)
            {
                using var hash = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
                foreach (var chunk in chunks.Where(c => c.Content == content))
                {
                    hash.AppendData(chunk.Content, chunk.Start, chunk.Length);
                }

                _ = hash.GetHashAndReset();
            }

            return contents.Count;
        });

        Add("MD5 in 8 MiB parts (composite)", "the same CPU as whole MD5, but parts run in parallel", () =>
        {
            foreach (var content in contents)
            {
                for (var start = 0; start < content.Length; start += ContentMd5.PartSize)
                {
                    _ = MD5.HashData(content.AsSpan(start, Math.Min(ContentMd5.PartSize, content.Length - start)));
                }
            }

            return contents.Count;
        });

        var scratch = new byte[ChunkRecord.MaxRecordSize(chunker.MaxSize)];
        foreach (var (name, compress) in new (string, Func<ReadOnlyMemory<byte>, int, int>)[]
        {
            ($"zstd {level}, a new context per call (before)", (c, l) => Zstd.CompressOneShot(c.Span, scratch, l)),
            ($"zstd {level}, one context per thread (now)", (c, l) => Zstd.Compress(c.Span, scratch, l)),
        })
        {
            Add(name + ", every chunk", "without the probe: what compressing all of the data costs", () =>
            {
                long output = 0;
                foreach (var chunk in chunks)
                {
                    output += compress(chunk.Content.AsMemory(chunk.Start, chunk.Length), level);
                }

                return output;
            });
        }

        foreach (var fast in new[] { -1, -3 })
        {
            Add($"zstd {fast} (a faster level), every chunk", "not the default: output size in outputBytes", () =>
            {
                long output = 0;
                foreach (var chunk in chunks)
                {
                    output += Zstd.Compress(chunk.Content.AsSpan(chunk.Start, chunk.Length), scratch, fast);
                }

                return output;
            });
        }

        var records = new byte[chunks.Count][];
        var recordLengths = new int[chunks.Count];
        Add($"encode without key: probe + zstd {level} or raw copy", "ChunkRecord.Encode, encryption off: the workers' compression step", () =>
        {
            long output = 0;
            for (var i = 0; i < chunks.Count; i++)
            {
                output += ChunkRecord.Encode(ids[i], chunks[i].Content.AsSpan(chunks[i].Start, chunks[i].Length), level, null, scratch);
            }

            return output;
        });

        Add("AES-256-GCM, one cipher per thread", "encrypting every chunk's bytes in place", () =>
        {
            using var cipher = ChunkRecord.CreateCipher(keys.Current);
            Span<byte> nonce = stackalloc byte[12];
            Span<byte> tag = stackalloc byte[16];
            for (var i = 0; i < chunks.Count; i++)
            {
                var data = copies[i].AsSpan(0, chunks[i].Length);
                cipher.Encrypt(nonce, data, data, tag);
            }

            return total;
        });

        Add($"encode with key: probe + zstd {level} + AES-GCM", "ChunkRecord.Encode as the workers run it", () =>
        {
            using var cipher = ChunkRecord.CreateCipher(keys.Current);
            long output = 0;
            for (var i = 0; i < chunks.Count; i++)
            {
                records[i] ??= new byte[ChunkRecord.MaxRecordSize(chunks[i].Length)];
                recordLengths[i] = ChunkRecord.Encode(ids[i], chunks[i].Content.AsSpan(chunks[i].Start, chunks[i].Length), level, keys, records[i], cipher);
                output += recordLengths[i];
            }

            return output;
        });

        var packDir = Path.Combine(work, "stage-packs");
        Add("append records to 32 MiB packs", "the appender's copy into the open pack's buffer", () =>
        {
            var pack = new MemoryStream(40 << 20);
            long written = 0;
            for (var i = 0; i < chunks.Count; i++)
            {
                pack.Write(records[i], 0, recordLengths[i]);
                if (pack.Length >= 32 << 20)
                {
                    written += pack.Length;
                    pack.SetLength(0);
                }
            }

            return written + pack.Length;
        });

        var packBuffers = Packs(records, recordLengths);
        Add("pack put: write + fsync + rename (local)", "LocalDirectoryBackend.PutAsync of every pack; wall time is the disk's", () =>
        {
            if (Directory.Exists(packDir))
            {
                Directory.Delete(packDir, recursive: true);
            }

            var backend = new LocalDirectoryBackend(packDir);
            long written = 0;
            for (var i = 0; i < packBuffers.Count; i++)
            {
                // Synchronously, so the thread's CPU time holds the whole put.
                backend.PutAsync($"packs/p{i:D4}.pack", new MemoryStream(packBuffers[i], writable: false)).GetAwaiter().GetResult();
                written += packBuffers[i].Length;
            }

            return written;
        });
        Directory.Delete(packDir, recursive: true);

        var plain = new byte[chunker.MaxSize];
        Add("decode: AES-GCM + zstd + SHA-256 check (restore)", "ChunkRecord.Decode, cipher and zstd context kept per thread", () =>
        {
            for (var i = 0; i < chunks.Count; i++)
            {
                if (ChunkRecord.Decode(ids[i], records[i].AsSpan(0, recordLengths[i]), keys, plain, "bench") is { } problem)
                {
                    throw new InvalidOperationException(problem);
                }
            }

            return total;
        });

        await Task.CompletedTask;
        double Cost(string prefix) => stages.First(s => s.Name.StartsWith(prefix, StringComparison.Ordinal)).CpuSecondsPerGB;
        var ingestSum = Cost("read") + Cost("FastCDC") + Cost("copy") + Cost("SHA-256 per") + Cost("SHA-256 of") + Cost("MD5 of")
            + Cost("encode with key") + Cost("append") + Cost("pack put");
        Console.Error.WriteLine($"  sum of the ingest stages (whole MD5): {ingestSum:F2} CPU-s/GB");
        return new
        {
            bytes = total,
            files = files.Count,
            chunks = chunks.Count,
            rounds,
            clock = "CLOCK_THREAD_CPUTIME_ID, best of rounds, one thread",
            stages,
            ingestStagesSumCpuSecondsPerGB = ingestSum,
            ingestStagesSumNote = "read + FastCDC + copy + SHA-256 per chunk + SHA-256 of content + MD5 of content + encode with key + append + pack put",
        };
    }

    private static List<byte[]> Packs(byte[][] records, int[] lengths)
    {
        var packs = new List<byte[]>();
        var pack = new MemoryStream(40 << 20);
        for (var i = 0; i < records.Length; i++)
        {
            pack.Write(records[i], 0, lengths[i]);
            if (pack.Length >= 32 << 20)
            {
                packs.Add(pack.ToArray());
                pack.SetLength(0);
            }
        }

        if (pack.Length > 0)
        {
            packs.Add(pack.ToArray());
        }

        return packs;
    }

    private static double ThreadCpu()
    {
        if (ClockGetTime(ThreadCpuClock, out var time) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        }

        return time.Seconds + (time.Nanoseconds / 1e9);
    }

    private readonly record struct TimeSpec(long Seconds, long Nanoseconds);

    private sealed record Stage(string Name, double CpuSecondsPerGB, double MBPerCpuSecond, double WallSecondsPerGB, long OutputBytes, string Note);
}
