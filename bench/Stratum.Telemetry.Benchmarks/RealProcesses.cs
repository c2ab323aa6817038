using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Stratum.Client;
using Stratum.Client.Contracts;
using Stratum.Server;
using Stratum.Server.Telemetry;

namespace Stratum.Telemetry.Benchmarks;

/// <summary>
/// Telemetry overhead with real processes: the same in-process server and the same N sleeping jobs, measured
/// with the sampler off (the baseline) and on at the default 10 s and at 1 s, in one run. Reported: the
/// server process's CPU over a window, its managed heap and working set, and the cost of one sample round.
/// </summary>
internal static class RealProcesses
{
    public static async Task<object> RunAsync(int jobs, int windowSeconds)
    {
        var runs = new List<object>();
        foreach (var interval in new[] { TimeSpan.Zero, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1) })
        {
            runs.Add(await MeasureAsync(interval, jobs, TimeSpan.FromSeconds(windowSeconds)));
        }

        return new
        {
            date = DateTimeOffset.UtcNow,
            machine = ResultFile.Machine(),
            load_average_at_end = ResultFile.LoadAverage(),
            command = $"dotnet run -c Release --project bench/Stratum.Telemetry.Benchmarks -- --jobs {jobs} --window {windowSeconds}",
            jobs,
            window_seconds = windowSeconds,
            runs,
        };
    }

    public static async Task<object> MeasureAsync(TimeSpan interval, int jobs, TimeSpan window)
    {
        var data = Path.Combine(Path.GetTempPath(), "stratum-telemetry-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var server = await StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = data,
            Port = 0,
            RegisterLocalNode = false,
            TelemetryInterval = interval,
            MinimumLogLevel = Microsoft.Extensions.Logging.LogLevel.Warning,
        });
        try
        {
            using var client = new StratumClient(server.Address, server.AdminToken);
            await client.ApplyAsync(new ApplyRequest
            {
                Document = $"""
                    pools:
                      - name: bench
                    nodes:
                      - name: n1
                        pool: bench
                        cpu: "{jobs}"
                        memory: {jobs * 64}Mi
                    """,
            });
            var ids = new List<long>();
            for (var i = 0; i < jobs; i++)
            {
                ids.Add((await client.SubmitJobAsync(new SubmitJobRequest
                {
                    Name = $"sleep-{i}", Command = ["sleep", "3600"], Resources = new ResourcesDto { Cpu = "1", Memory = "32Mi" },
                })).Id);
            }

            var deadline = DateTime.UtcNow.AddMinutes(2);
            while ((await client.ListJobsAsync(new JobListQuery { States = ["Running"], Limit = 1000 })).Items.Count < jobs)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException("the jobs did not all start");
                }

                await Task.Delay(500);
            }

            // Settle, then measure the window.
            await Task.Delay(TimeSpan.FromSeconds(5));
            GC.Collect();
            var process = Process.GetCurrentProcess();
            var cpuBefore = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            await Task.Delay(window);
            process.Refresh();
            var cpu = (process.TotalProcessorTime - cpuBefore).TotalSeconds / clock.Elapsed.TotalSeconds;
            var workingSet = process.WorkingSet64;
            var heap = GC.GetTotalMemory(forceFullCollection: true);

            // One round's own cost, measured on the baseline server (whose sampler loop is off) so that the
            // loop and these calls never run together.
            object? round = null;
            if (interval == TimeSpan.Zero)
            {
                var sampler = server.Services.GetRequiredService<TelemetrySampler>();
                var times = new List<double>();
                var roundCpu = process.TotalProcessorTime;
                for (var i = 0; i < 10; i++)
                {
                    var one = Stopwatch.StartNew();
                    await sampler.SampleOnceAsync(CancellationToken.None);
                    times.Add(one.Elapsed.TotalMilliseconds);
                }

                process.Refresh();
                times.Sort();
                round = new
                {
                    rounds = times.Count,
                    jobs_sampled = sampler.Latest.Count,
                    wall_ms_median = Math.Round(times[times.Count / 2], 1),
                    wall_ms_max = Math.Round(times[^1], 1),
                    cpu_ms_mean = Math.Round((process.TotalProcessorTime - roundCpu).TotalMilliseconds / times.Count, 1),
                };
            }

            foreach (var id in ids)
            {
                await client.CancelJobAsync(id);
            }

            // The server stops only once its replicas have: no sleeping process outlives the benchmark.
            var stopDeadline = DateTime.UtcNow.AddMinutes(2);
            while ((await client.ListJobsAsync(new JobListQuery { States = ["Running"], Limit = 1000 })).Items.Count > 0 && DateTime.UtcNow < stopDeadline)
            {
                await Task.Delay(500);
            }

            return new
            {
                sampler = interval == TimeSpan.Zero ? "off" : $"every {interval.TotalSeconds:0} s",
                server_cpu_cores = Math.Round(cpu, 4),
                working_set_mb = Math.Round(workingSet / 1048576.0, 1),
                managed_heap_mb = Math.Round(heap / 1048576.0, 1),
                one_round = round,
            };
        }
        finally
        {
            await server.StopAsync();
            try
            {
                Directory.Delete(data, recursive: true);
            }
            catch (IOException)
            {
                // Jobs' files may still be written by a replica that is being killed; the temp directory is throwaway.
            }
        }
    }
}
