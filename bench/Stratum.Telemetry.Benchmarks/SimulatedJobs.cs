using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.Telemetry.Benchmarks;

/// <summary>
/// Telemetry overhead with 1,000 running jobs on the simulated executor. Two server processes run side by
/// side with the same pool and the same jobs, one with the sampler off (the baseline) and one sampling every
/// 10 s, and are measured over the same windows, so that whatever else the machine does lands on both.
/// Reported per window and as medians: each server's CPU cores and working set, and their paired difference;
/// then one sample round's cost and the telemetry rows and bytes it adds, extrapolated to an hour.
/// </summary>
internal static class SimulatedJobs
{
    private const int GpusPerNode = 8;
    private const int GpusPerJob = 2;
    private const int SamplerSeconds = 10;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(15);

    public static async Task<object> RunAsync(int jobs, int windowSeconds, int windows)
    {
        var nodes = (jobs * GpusPerJob + GpusPerNode - 1) / GpusPerNode;
        await using var off = await Child.StartAsync(0);
        await using var on = await Child.StartAsync(SamplerSeconds);
        Console.WriteLine($"servers up (pids {off.Pid}, {on.Pid}); declaring {nodes} simulated nodes and submitting {jobs} jobs to each");
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(PrepareAsync(off, jobs, nodes), PrepareAsync(on, jobs, nodes));
        var startSeconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"all {jobs} jobs running on both servers after {startSeconds:0.0} s; settling {Settle.TotalSeconds:0} s");
        await Task.Delay(Settle);

        var offWindows = new List<(double Cores, double WorkingSetMb)>();
        var onWindows = new List<(double Cores, double WorkingSetMb)>();
        for (var w = 0; w < windows; w++)
        {
            var offStart = off.CpuTime();
            var onStart = on.CpuTime();
            var window = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(windowSeconds));
            var seconds = window.Elapsed.TotalSeconds;
            offWindows.Add(((off.CpuTime() - offStart).TotalSeconds / seconds, off.WorkingSetMb()));
            onWindows.Add(((on.CpuTime() - onStart).TotalSeconds / seconds, on.WorkingSetMb()));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"window {w + 1}/{windows}: off {offWindows[^1].Cores:0.0000} cores {offWindows[^1].WorkingSetMb:0.0} MB; every {SamplerSeconds} s {onWindows[^1].Cores:0.0000} cores {onWindows[^1].WorkingSetMb:0.0} MB"));
        }

        Console.WriteLine("timing sample rounds on the server whose sampler is off");
        var rounds = JsonSerializer.Deserialize<JsonElement>(await off.AskAsync("rounds 10", "ROUNDS ", TimeSpan.FromMinutes(5)));
        var offHeap = long.Parse(await off.AskAsync("heap", "HEAP ", TimeSpan.FromMinutes(1)), CultureInfo.InvariantCulture);
        var onHeap = long.Parse(await on.AskAsync("heap", "HEAP ", TimeSpan.FromMinutes(1)), CultureInfo.InvariantCulture);

        var rowsPerRound = rounds.GetProperty("rows_per_round").GetInt32();
        var bytesPerRound = rounds.GetProperty("database_bytes_per_round").GetDouble();
        var roundsPerHour = 3600 / SamplerSeconds;
        return new
        {
            date = DateTimeOffset.UtcNow,
            machine = ResultFile.Machine(),
            load_average_at_end = ResultFile.LoadAverage(),
            command = $"dotnet run -c Release --project bench/Stratum.Telemetry.Benchmarks -- --simulated-jobs {jobs} --window {windowSeconds} --windows {windows}",
            method = "two server processes side by side, same simulated pool and jobs, measured over the same windows; CPU from /proc (utime+stime) per window, working set at each window's end",
            jobs,
            nodes,
            gpus_per_node = GpusPerNode,
            gpus_per_job = GpusPerJob,
            seconds_until_all_running = Math.Round(startSeconds, 1),
            window_seconds = windowSeconds,
            windows,
            sampler_off = Summary(offWindows, offHeap),
            sampler_every_10s = Summary(onWindows, onHeap),
            overhead_median = new
            {
                cpu_cores = Math.Round(ResultFile.Median(onWindows.Zip(offWindows, (a, b) => a.Cores - b.Cores)), 4),
                working_set_mb = Math.Round(ResultFile.Median(onWindows.Zip(offWindows, (a, b) => a.WorkingSetMb - b.WorkingSetMb)), 1),
            },
            one_round = rounds,
            telemetry_table_growth = new
            {
                rows_per_round = rowsPerRound,
                rows_per_hour_at_10s = rowsPerRound * roundsPerHour,
                database_mb_per_hour_at_10s = Math.Round(bytesPerRound * roundsPerHour / 1048576.0, 1),
                raw_kept_one_day_mb = Math.Round(bytesPerRound * roundsPerHour * 24 / 1048576.0, 0),
            },
        };
    }

    private static object Summary(List<(double Cores, double WorkingSetMb)> windows, long heapBytes) => new
    {
        server_cpu_cores_median = Math.Round(ResultFile.Median(windows.Select(w => w.Cores)), 4),
        server_cpu_cores_windows = windows.Select(w => Math.Round(w.Cores, 4)).ToList(),
        working_set_mb_median = Math.Round(ResultFile.Median(windows.Select(w => w.WorkingSetMb)), 1),
        working_set_mb_windows = windows.Select(w => Math.Round(w.WorkingSetMb, 1)).ToList(),
        managed_heap_mb_after_full_gc = Math.Round(heapBytes / 1048576.0, 1),
    };

    /// <summary>A simulated pool of <paramref name="nodes"/> nodes, then the jobs (a few at a time), then waits until all run.</summary>
    private static async Task PrepareAsync(Child child, int jobs, int nodes)
    {
        using var client = new StratumClient(child.Address, child.Token);
        var document = new StringBuilder("""
            pools:
              - name: sim
                executor: simulated
                price: {gpuHour: 2.5}
            nodes:

            """);
        for (var n = 0; n < nodes; n++)
        {
            document.Append(CultureInfo.InvariantCulture, $"""
                  - name: sim-{n:0000}
                    pool: sim
                    cpu: "64"
                    memory: 512Gi
                    accelerators:
                      nvidia-h100: {GpusPerNode}

                """);
        }

        await client.ApplyAsync(new ApplyRequest { Document = document.ToString() });
        await Parallel.ForEachAsync(Enumerable.Range(0, jobs), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, ct) =>
            await client.SubmitJobAsync(new SubmitJobRequest
            {
                Name = $"sim-{i}",
                Command = ["python", "train.py"],
                Resources = new ResourcesDto { Cpu = "8", Memory = "64Gi", Gpus = GpusPerJob },
            }, cancellationToken: ct));

        var deadline = DateTime.UtcNow.AddMinutes(10);
        while (await CountAsync(client, "Running") < jobs)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the {jobs} simulated jobs did not all start");
            }

            await Task.Delay(1000);
        }
    }

    private static async Task<int> CountAsync(StratumClient client, string state)
    {
        var count = 0;
        string? cursor = null;
        do
        {
            var page = await client.ListJobsAsync(new JobListQuery { States = [state], Limit = 1000, Cursor = cursor });
            count += page.Items.Count;
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return count;
    }

    /// <summary>This benchmark again, as a server process (<see cref="SimulatedServer"/>).</summary>
    private sealed class Child : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _data;
        private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

        private Child(Process process, string data)
        {
            _process = process;
            _data = data;
        }

        public int Pid => _process.Id;

        public Uri Address { get; private set; } = null!;

        public string Token { get; private set; } = "";

        public static async Task<Child> StartAsync(int samplerSeconds)
        {
            var data = Path.Combine(Path.GetTempPath(), "stratum-telemetry-sim-" + Guid.NewGuid().ToString("N")[..8]);
            var self = Environment.ProcessPath ?? throw new InvalidOperationException("no process path");
            var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            {
                start.ArgumentList.Add(typeof(SimulatedJobs).Assembly.Location);
            }

            foreach (var argument in (string[])[SimulatedServer.ServeFlag, "--data", data, "--telemetry-seconds", samplerSeconds.ToString(CultureInfo.InvariantCulture)])
            {
                start.ArgumentList.Add(argument);
            }

            var child = new Child(Process.Start(start) ?? throw new InvalidOperationException("the server process did not start"), data);
            _ = Task.Run(child.PumpAsync);
            var ready = (await child.WaitForAsync("READY ", TimeSpan.FromMinutes(2))).Split(' ');
            child.Address = new Uri(ready[0]);
            child.Token = ready[1];
            return child;
        }

        public TimeSpan CpuTime()
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }

        public double WorkingSetMb()
        {
            _process.Refresh();
            return _process.WorkingSet64 / 1048576.0;
        }

        public async Task<string> AskAsync(string command, string answer, TimeSpan timeout)
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return await WaitForAsync(answer, timeout);
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                await _process.StandardInput.WriteLineAsync("quit");
                await _process.StandardInput.FlushAsync();
                await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
            }
            catch (Exception e) when (e is IOException or TimeoutException or InvalidOperationException)
            {
                _process.Kill();
            }

            _process.Dispose();
            try
            {
                Directory.Delete(_data, recursive: true);
            }
            catch (IOException)
            {
                // A temporary directory; the system cleans what is left.
            }
        }

        private async Task<string> WaitForAsync(string prefix, TimeSpan timeout)
        {
            using var cancel = new CancellationTokenSource(timeout);
            while (true)
            {
                var line = await _lines.Reader.ReadAsync(cancel.Token);
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line[prefix.Length..];
                }
            }
        }

        private async Task PumpAsync()
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("ROUNDS ", StringComparison.Ordinal) && !line.StartsWith("HEAP ", StringComparison.Ordinal) && !line.StartsWith("READY ", StringComparison.Ordinal))
                {
                    Console.WriteLine($"  [server {_process.Id}] {line}");
                }

                await _lines.Writer.WriteAsync(line);
            }

            _lines.Writer.TryComplete();
        }
    }
}
