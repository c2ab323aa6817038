using System.Collections.Concurrent;
using Stratum.Client;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>kill -9 of the real server while jobs run and submissions are in flight.</summary>
public sealed class CrashTests
{
    [Fact]
    public async Task KillNine_WhileJobsRunAndSubmitsAreInFlight_LosesNoAcknowledgedJobAndStatesAreTrue()
    {
        var data = Path.Combine(Path.GetTempPath(), "stratum-crash-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(data);
        var marker = Path.Combine(data, "release");
        var acknowledged = new ConcurrentDictionary<long, string>();
        long runningId;

        var server = await ServerProcess.StartAsync(data);
        try
        {
            using var client = server.CreateClient();
            // A job that outlives the server: it waits for a file that appears only after the restart.
            var survivor = await client.SubmitJobAsync(new SubmitJobRequest
            {
                Name = "survivor",
                Command = ["sh", "-c", $"while [ ! -f '{marker}' ]; do sleep 0.1; done; echo survived"],
                Resources = new ResourcesDto { Cpu = "50m", Memory = "16Mi" },
            });
            runningId = survivor.Id;
            await WaitForAsync(async () => (await client.GetJobAsync(runningId)).State == "Running");

            // Submitters keep going until the server dies under them.
            using var stop = new CancellationTokenSource();
            var submitters = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
            {
                using var own = server.CreateClient();
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var name = $"w{worker}-{i}";
                    try
                    {
                        var job = await own.SubmitJobAsync(new SubmitJobRequest
                        {
                            Name = name,
                            Command = ["true"],
                            Resources = new ResourcesDto { Cpu = "10m", Memory = "8Mi" },
                        });
                        acknowledged[job.Id] = name;
                    }
                    catch (Exception e) when (e is StratumUnreachableException or StratumApiException or HttpRequestException or TaskCanceledException or IOException)
                    {
                        // Not acknowledged: the server died before it answered. Nothing is promised about this one.
                        return;
                    }
                }
            })).ToList();

            await WaitForAsync(() => Task.FromResult(acknowledged.Count >= 200));
            await server.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(submitters).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            await server.DisposeAsync();
        }

        Assert.True(acknowledged.Count >= 200);
        await using var restarted = await ServerProcess.StartAsync(data);
        using var after = restarted.CreateClient();

        // Every acknowledged submission is there, under its own name.
        var stored = (await after.ListAllJobsAsync().ToListAsync()).ToDictionary(j => j.Id);
        foreach (var (id, name) in acknowledged)
        {
            Assert.True(stored.TryGetValue(id, out var job), $"acknowledged job {id} ({name}) is missing after the crash");
            Assert.Equal(name, job.Name);
        }

        // The job whose process outlived the server is re-attached, not failed or started twice.
        var reattached = await after.GetJobAsync(runningId);
        Assert.Equal("Running", reattached.State);
        await File.WriteAllTextAsync(marker, "");
        await WaitForAsync(async () => (await after.GetJobAsync(runningId)).State == "Succeeded");
        Assert.Single((await after.GetJobAsync(runningId)).Attempts);

        // Nothing stays Running or Pending forever, and nothing the crash interrupted is failed for it:
        // a job stored as started but never launched is launched after the restart.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(180);
        List<JobDto> unfinished;
        do
        {
            unfinished = (await after.ListAllJobsAsync().ToListAsync()).Where(j => j.State != "Succeeded").ToList();
            if (unfinished.Count == 0)
            {
                return;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"{unfinished.Count} job(s) did not succeed after the restart: " +
            string.Join("; ", unfinished.Take(5).Select(j => $"{j.Id} {j.Name} {j.State}: {j.Reason}")));
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("the condition did not hold in time");
    }
}
