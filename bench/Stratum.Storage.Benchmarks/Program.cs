using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Stratum.Storage;
using Stratum.Storage.Backends;
using Stratum.Storage.Chunking;
using Stratum.Storage.Crypto;
using Stratum.Storage.Format;

// Artifact store benchmark (issue 4). Everything on: FastCDC, SHA-256 ids, MD5 + SHA-256 of each file,
// zstd at the store's default level (1), AES-256-GCM, fsynced packs and index files.
// 1. ingest and restore of a generated file set (half text-like CSV, compressible; half random bytes,
//    like compressed images or fp16 weights) against `cp -r` of the same files on the same disk in the
//    same run, median of --repeats; cp is timed with and without a following `sync`, since the store's
//    writes are durable when it returns and cp's are not.
// 2. dedup ratio (logical / stored) for dataset revisions, a family of fine-tuned models and one file
//    under two names, against plain copies (stored = logical), for the default chunk sizes and a
//    smaller set, to show why the defaults were chosen.
// 3. with --stages: the CPU cost of each ingest stage on one thread (StageCosts.cs), the budget for
//    "70% of cp", to bench/results/storage-stages.json.
// Ingest runs once per --md5 mode in each repeat (whole: MD5 of each file, the S3 single-PUT ETag;
// parts: S3's multipart form over 8 MiB parts, hashed in parallel), after the same cp.
// Usage: dotnet run -c Release --project bench/Stratum.Storage.Benchmarks --
//          [--dir /tmp/stratum-storage-bench] [--size-mb 2048] [--repeats 3] [--skip-dedup] [--skip-ingest]
//          [--md5 whole,parts] [--stages [--stage-mb 256]]
// A part not run keeps its figures from the existing results file.
string Option(string name, string fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : fallback;
}

var work = Option("--dir", "/tmp/stratum-storage-bench");
var sizeMb = int.Parse(Option("--size-mb", "2048"), CultureInfo.InvariantCulture);
var repeats = int.Parse(Option("--repeats", "3"), CultureInfo.InvariantCulture);
var md5Modes = Option("--md5", "whole,parts").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
    .Select(m => Enum.Parse<ContentMd5Mode>(m, ignoreCase: true)).ToList();
Directory.CreateDirectory(work);
var keys = new KeyRing(StoreKey.Generate());
var jsonOptions = new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

object? ingest = null;
object? dedup = null;
var results = Path.Combine(RepositoryRoot(), "bench", "results");
Directory.CreateDirectory(results);
var file = Path.Combine(results, "storage.json");

// A part this run skips keeps what the file held.
var previous = File.Exists(file) ? JsonNode.Parse(File.ReadAllText(file)) : null;

if (args.Contains("--stages"))
{
    var stageFiles = GenerateFileSet(Path.Combine(work, "source"), sizeMb).Take(Math.Max(2, int.Parse(Option("--stage-mb", "256"), CultureInfo.InvariantCulture) / 32)).ToList();
    var stages = await StageCosts.MeasureAsync(stageFiles, work, keys, rounds: 3);
    var stagesFile = Path.Combine(results, "storage-stages.json");
    var stagesReport = new
    {
        scenario = "storage-stages",
        machine = new { Environment.ProcessorCount, os = Environment.OSVersion.VersionString, dotnet = Environment.Version.ToString(), loadAverage = LoadAverage() },
        fileSet = "the ingest benchmark's files: 32 MiB each, alternately CSV-like text (seeded) and random bytes",
        result = stages,
    };
    File.WriteAllText(stagesFile, JsonSerializer.Serialize(stagesReport, jsonOptions) + "\n");
    Console.Error.WriteLine($"wrote {stagesFile}");
}

// Dedup first (it is quicker); the file is rewritten after each part so a long run keeps what it measured.
if (!args.Contains("--skip-dedup"))
{
    dedup = await DedupAsync();
    Write();
}

if (!args.Contains("--skip-ingest"))
{
    ingest = await IngestAndRestoreAsync();
    Write();
}

return 0;

void Write()
{
    var report = new
    {
        scenario = "storage",
        machine = new { Environment.ProcessorCount, os = Environment.OSVersion.VersionString, dotnet = Environment.Version.ToString(), loadAverage = LoadAverage() },
        settings = new { chunking = "512 KiB / 1 MiB / 4 MiB", compression = $"zstd {new ChunkStoreOptions().CompressionLevel}", encryption = "AES-256-GCM", packTargetMiB = 32, workers = Environment.ProcessorCount },
        ingest = ingest is null ? previous?["ingest"]?.DeepClone() : JsonSerializer.SerializeToNode(ingest, jsonOptions),
        dedup = dedup is null ? previous?["dedup"]?.DeepClone() : JsonSerializer.SerializeToNode(dedup, jsonOptions),
    };
    File.WriteAllText(file, JsonSerializer.Serialize(report, jsonOptions) + "\n");
    Console.Error.WriteLine($"wrote {file}");
}

async Task<object> IngestAndRestoreAsync()
{
    var source = Path.Combine(work, "source");
    var files = GenerateFileSet(source, sizeMb);
    var totalBytes = files.Sum(f => new FileInfo(f).Length);
    double Mbps(double seconds) => totalBytes / seconds / 1e6;

    var cp = new List<double>();
    var cpSync = new List<double>();
    var ingestTimes = md5Modes.ToDictionary(m => m, _ => new List<double>());
    var ingestCpu = md5Modes.ToDictionary(m => m, _ => new List<double>());
    var restoreTimes = new List<double>();
    var restoreCpu = new List<double>();
    long storedBytes = 0;
    var loadBefore = LoadAverage();
    for (var run = 0; run < repeats; run++)
    {
        var copy = Path.Combine(work, "cp-copy");
        DeleteIfExists(copy);
        Run("sync");
        var watch = Stopwatch.StartNew();
        Run("cp", "-r", source, copy);
        cp.Add(watch.Elapsed.TotalSeconds);
        Run("sync");
        cpSync.Add(watch.Elapsed.TotalSeconds);
        DeleteIfExists(copy);

        var storeDir = Path.Combine(work, "store");
        ChunkStore? store = null;
        var stored = new List<(string Path, StoredContent Content)>();
        foreach (var mode in md5Modes)
        {
            if (store is not null)
            {
                await store.DisposeAsync();
            }

            DeleteIfExists(storeDir);
            Run("sync");
            stored.Clear();
            watch.Restart();
            var cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
            store = await ChunkStore.OpenAsync(new LocalDirectoryBackend(storeDir), keys);
            foreach (var path in files)
            {
                await using var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan | FileOptions.Asynchronous);
                stored.Add((path, await store.WriteAsync(input, new WriteOptions { Flush = false, Md5 = mode })));
            }

            await store.FlushAsync();
            ingestTimes[mode].Add(watch.Elapsed.TotalSeconds);
            ingestCpu[mode].Add((Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalSeconds);
            storedBytes = DirectoryBytes(storeDir);
            Console.Error.WriteLine($"run {run + 1}: ingest (md5 {mode}) {ingestTimes[mode][^1]:F2} s, {ingestCpu[mode][^1]:F2} CPU-s");
        }

        await using var lastStore = store!;
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;

        var restore = Path.Combine(work, "restore");
        DeleteIfExists(restore);
        Directory.CreateDirectory(restore);
        watch.Restart();
        cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var (path, content) in stored)
        {
            await using var output = new FileStream(Path.Combine(restore, Path.GetFileName(path)), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20, FileOptions.Asynchronous);
            await using var input = lastStore.OpenRead(content);
            await input.CopyToAsync(output, 1 << 20);
        }

        restoreTimes.Add(watch.Elapsed.TotalSeconds);
        restoreCpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds);
        if (run == 0)
        {
            foreach (var (path, content) in stored)
            {
                var restored = Path.Combine(restore, Path.GetFileName(path));
                var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(restored)));
                if (hash != content.Sha256)
                {
                    throw new InvalidOperationException($"restored {restored} differs from the original");
                }

                await using var original = File.OpenRead(path);
                var expectedMd5 = md5Modes[^1] == ContentMd5Mode.Parts
                    ? await ContentMd5.PartsAsync(original)
                    : Convert.ToHexStringLower(await System.Security.Cryptography.MD5.HashDataAsync(original));
                if (expectedMd5 != content.Md5)
                {
                    throw new InvalidOperationException($"the store's md5 of {path} is {content.Md5}, expected {expectedMd5}");
                }
            }
        }

        DeleteIfExists(restore);
        Console.Error.WriteLine($"run {run + 1}: cp {cp[^1]:F2} s (with sync {cpSync[^1]:F2} s), restore {restoreTimes[^1]:F2} s");
    }

    var result = new
    {
        fileSet = new { files = files.Count, bytes = totalBytes, mix = "half the files CSV-like text (seeded), half random bytes" },
        repeats,
        loadAverage = new { before = loadBefore, after = LoadAverage() },
        cpSeconds = Median(cp),
        cpThenSyncSeconds = Median(cpSync),
        cpMBps = Mbps(Median(cp)),
        cpThenSyncMBps = Mbps(Median(cpSync)),
        ingest = md5Modes.Select(mode => new
        {
            md5 = mode.ToString().ToLowerInvariant(),
            seconds = Median(ingestTimes[mode]),
            mbps = Mbps(Median(ingestTimes[mode])),
            vsCp = Median(cp) / Median(ingestTimes[mode]),
            vsCpThenSync = Median(cpSync) / Median(ingestTimes[mode]),
            cpuSecondsPerGB = Median(ingestCpu[mode]) / (totalBytes / 1e9),
            all = new { seconds = ingestTimes[mode], cpuSeconds = ingestCpu[mode] },
        }).ToList(),
        restoreSeconds = Median(restoreTimes),
        restoreMBps = Mbps(Median(restoreTimes)),
        restoreVsCp = Median(cp) / Median(restoreTimes),
        storedBytes,
        restoreCpuSecondsPerGB = Median(restoreCpu) / (totalBytes / 1e9),
        cpuNote = "CPU seconds of this process per GB (user + system), less sensitive to other load on the machine than wall time",
        goal = "ingest >= 0.70 of cp throughput",
        all = new { cp, cpSync, restoreTimes, restoreCpu },
    };
    Console.Error.WriteLine(JsonSerializer.Serialize(result, jsonOptions));
    DeleteIfExists(Path.Combine(work, "store"));
    return result;
}

async Task<object> DedupAsync()
{
    var configs = new (string Name, ChunkingOptions Chunking)[]
    {
        ("default 512K/1M/4M", new ChunkingOptions()),
        ("small 64K/128K/512K", new ChunkingOptions { MinSize = 64 * 1024, AverageSize = 128 * 1024, MaxSize = 512 * 1024 }),
    };
    var scenarios = new List<object>();
    foreach (var (name, chunking) in configs)
    {
        scenarios.Add(await DedupScenarioAsync("dataset: 10 revisions of 100 x 1 MiB files, 5% of files replaced per revision", name, chunking, DatasetRevisions()));
        scenarios.Add(await DedupScenarioAsync("models: a 128 MiB base and 5 fine-tunes that rewrite the last 10% and 8 scattered 1 MiB regions", name, chunking, ModelFamily()));
        scenarios.Add(await DedupScenarioAsync("one 128 MiB file under two names", name, chunking, TwoNames()));
    }

    return scenarios;
}

async Task<object> DedupScenarioAsync(string scenario, string chunkingName, ChunkingOptions chunking, IEnumerable<byte[]> contents)
{
    var storeDir = Path.Combine(work, "dedup-store");
    DeleteIfExists(storeDir);
    long logical = 0;
    var watch = Stopwatch.StartNew();
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    await using (var store = await ChunkStore.OpenAsync(new LocalDirectoryBackend(storeDir), keys, new ChunkStoreOptions { Chunking = chunking }))
    {
        foreach (var content in contents)
        {
            logical += content.Length;
            await store.WriteAsync(new MemoryStream(content), flush: false);
        }

        await store.FlushAsync();
    }

    var stored = DirectoryBytes(storeDir);
    DeleteIfExists(storeDir);
    var result = new
    {
        scenario,
        chunking = chunkingName,
        logicalBytes = logical,
        storedBytes = stored,
        dedupRatio = (double)logical / stored,
        plainCopiesRatio = 1.0,
        seconds = watch.Elapsed.TotalSeconds,
        cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds,
    };
    Console.Error.WriteLine(JsonSerializer.Serialize(result));
    return result;
}

IEnumerable<byte[]> DatasetRevisions()
{
    var random = new Random(7);
    var files = Enumerable.Range(0, 100).Select(i => Mixed(random, 1 << 20, text: i % 2 == 0)).ToArray();
    for (var revision = 0; revision < 10; revision++)
    {
        if (revision > 0)
        {
            foreach (var index in Enumerable.Range(0, 100).OrderBy(_ => random.Next()).Take(5))
            {
                files[index] = Mixed(random, 1 << 20, text: index % 2 == 0);
            }
        }

        foreach (var file in files)
        {
            yield return file;
        }
    }
}

IEnumerable<byte[]> ModelFamily()
{
    var random = new Random(8);
    var size = 128 << 20;
    var baseModel = new byte[size];
    random.NextBytes(baseModel);
    yield return baseModel;
    for (var variant = 0; variant < 5; variant++)
    {
        var tuned = baseModel.ToArray();
        random.NextBytes(tuned.AsSpan(size - (size / 10)));
        for (var region = 0; region < 8; region++)
        {
            random.NextBytes(tuned.AsSpan(random.Next(size - (size / 10) - (1 << 20)), 1 << 20));
        }

        yield return tuned;
    }
}

IEnumerable<byte[]> TwoNames()
{
    var content = new byte[128 << 20];
    new Random(9).NextBytes(content);
    yield return content;
    yield return content;
}

static byte[] Mixed(Random random, int size, bool text)
{
    var bytes = new byte[size];
    if (!text)
    {
        random.NextBytes(bytes);
        return bytes;
    }

    var words = new[] { "train", "valid", "cat", "dog", "tensor", "image", "label", "score", "batch", "epoch" };
    var builder = new StringBuilder(size + 128);
    var row = 0;
    while (builder.Length < size)
    {
        builder.Append(CultureInfo.InvariantCulture, $"{row++},{words[random.Next(words.Length)]},{random.NextDouble():F6},{random.Next(1_000_000)},{words[random.Next(words.Length)]}\n");
    }

    Encoding.ASCII.GetBytes(builder.ToString(0, size), bytes);
    return bytes;
}

List<string> GenerateFileSet(string directory, int megabytes)
{
    const int FileMb = 32;
    var count = Math.Max(2, megabytes / FileMb);
    var marker = Path.Combine(directory, $".complete-{count}x{FileMb}");
    var files = Enumerable.Range(0, count).Select(i => Path.Combine(directory, $"part-{i:D4}.{(i % 2 == 0 ? "csv" : "bin")}")).ToList();
    if (File.Exists(marker))
    {
        return files;
    }

    DeleteIfExists(directory);
    Directory.CreateDirectory(directory);
    Parallel.For(0, count, i => File.WriteAllBytes(files[i], Mixed(new Random(1000 + i), FileMb << 20, text: i % 2 == 0)));
    File.WriteAllText(marker, "");
    Console.Error.WriteLine($"generated {count} files of {FileMb} MiB under {directory}");
    return files;
}

static string? LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : null;

static void Run(string program, params string[] arguments)
{
    var start = new ProcessStartInfo(program);
    foreach (var argument in arguments)
    {
        start.ArgumentList.Add(argument);
    }

    using var process = Process.Start(start)!;
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{program} exited with {process.ExitCode}");
    }
}

static void DeleteIfExists(string path)
{
    if (Directory.Exists(path))
    {
        Directory.Delete(path, recursive: true);
    }
}

static long DirectoryBytes(string path) =>
    new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);

static double Median(List<double> values)
{
    var sorted = values.Order().ToList();
    return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}

static string RepositoryRoot()
{
    for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
    {
        if (File.Exists(Path.Combine(directory.FullName, "Stratum.slnx")))
        {
            return directory.FullName;
        }
    }

    return Directory.GetCurrentDirectory();
}
