namespace Stratum.Server.Tests;

/// <summary>What happens to running jobs when the server stops and starts again.</summary>
public sealed class RestartTests
{
    [Fact]
    public async Task Restart_ReplicaStillRunning_IsReattachedAndFinishes()
    {
        await using var server = await TestServer.StartAsync();
        var marker = Path.Combine(server.DataDirectory, "go");
        var job = await server.SubmitAsync(TestServer.Job("sh", "-c", $"while [ ! -f {marker} ]; do sleep 0.1; done; echo finished"));
        await server.WaitForStateAsync(job.Id, "Running");

        await server.RestartAsync();
        var after = await server.GetJobAsync(job.Id);
        Assert.Equal("Running", after.State);

        await File.WriteAllTextAsync(marker, "");
        var done = await server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Single(done.Attempts);
        Assert.Equal("finished\n", await server.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs"));
    }

    [Fact]
    public async Task Restart_ReplicaDiedWhileServerWasDown_IsFailedWithReason()
    {
        await using var server = await TestServer.StartAsync();
        var job = await server.SubmitAsync(TestServer.Job("sleep", "60"));
        await server.WaitForStateAsync(job.Id, "Running");
        await server.Server.StopAsync();

        var pidFile = Directory.EnumerateFiles(Path.Combine(server.DataDirectory, "jobs", job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)), "replica.pid", SearchOption.AllDirectories).Single();
        KillReplica(pidFile);

        await server.RestartAsync();
        var failed = await server.WaitForStateAsync(job.Id, "Failed");
        Assert.StartsWith("lost", failed.Reason);
    }

    [Fact]
    public async Task Restart_ReplicaDiedWithLostRetry_IsRequeuedAndRunsAgain()
    {
        await using var server = await TestServer.StartAsync();
        var job = await server.SubmitAsync(TestServer.Job("sh", "-c", "if [ \"$STRATUM_ATTEMPT\" = 2 ]; then echo again; exit 0; fi; sleep 60") with { Retry = new Client.Contracts.RetryDto { MaxAttempts = 2 } });
        await server.WaitForStateAsync(job.Id, "Running");
        await server.Server.StopAsync();
        var pidFile = Directory.EnumerateFiles(Path.Combine(server.DataDirectory, "jobs"), "replica.pid", SearchOption.AllDirectories).Single();
        KillReplica(pidFile);

        await server.RestartAsync();
        var done = await server.WaitForStateAsync(job.Id, "Succeeded");
        Assert.Equal(2, done.Attempts.Count);
        Assert.StartsWith("failed: lost", done.Attempts[0].Outcome);
    }

    /// <summary>
    /// Kills a replica the way a crash would: its wrapper first (so no exit code is recorded), then the
    /// program's process group. Through libc, not the kill program, whose parsing of negative pids
    /// differs between implementations.
    /// </summary>
    private static void KillReplica(string recordFile)
    {
        var directory = Path.GetDirectoryName(recordFile)!;
        var wrapper = int.Parse(File.ReadAllText(recordFile).Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        var program = int.Parse(File.ReadAllText(Path.Combine(directory, "program.pid")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(wrapper > 1 && program > 1);
        Assert.Equal(0, Kill(-wrapper, 9));
        Assert.Equal(0, Kill(-program, 9));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    [Fact]
    public async Task SecondServer_OnSameDataDirectory_IsRefused()
    {
        await using var server = await TestServer.StartAsync();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StratumServer.StartAsync(new ServerOptions { DataDirectory = server.DataDirectory, Port = 0 }));
        Assert.Contains("Another Stratum server", error.Message);
        Assert.Contains($"pid {Environment.ProcessId}", error.Message);
    }

    [Fact]
    public async Task InvalidOptions_AreAllReportedAtOnce()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => StratumServer.StartAsync(new ServerOptions
        {
            DataDirectory = Path.Combine(Path.GetTempPath(), "never-created-" + Guid.NewGuid().ToString("N")),
            ListenAddress = "localhost-ish",
            Port = 70000,
            SchedulingPolicy = "magic",
        }));
        Assert.Contains("listenAddress", error.Message);
        Assert.Contains("port", error.Message);
        Assert.Contains("schedulingPolicy: 'magic'", error.Message);
    }
}
