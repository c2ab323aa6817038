using System.Globalization;
using System.Text.Json;
using Stratum.Client.Contracts;

namespace Stratum.EndToEnd.Tests;

/// <summary>
/// <c>stratum simulate --from-history --cluster bigger.yaml</c>: the server's own finished jobs replayed on
/// another cluster in one command (the what-if before buying), against a real server and real jobs.
/// </summary>
public sealed class SimulateFromHistoryTests(ServerFixture fixture) : IClassFixture<ServerFixture>
{
    [Fact]
    public async Task FromHistory_FinishedJobsOnARealServer_ReplayedOnAClusterFile()
    {
        var cluster = Path.Combine(fixture.DataDirectory, "bigger.yaml");
        await File.WriteAllTextAsync(cluster, "nodeGroups:\n  - name: h100\n    count: 4\n    gpusPerNode: 8\n    gpuType: nvidia-h100\n    rack: r1\n");

        // Nothing has finished yet: an error that says what to do, not a table of zeros.
        var empty = await fixture.RunAsync("simulate", "--from-history", "--since", "1h", "--cluster", cluster, "--policy", "fifo", "--output", "json");
        Assert.True(empty.ExitCode == 6, empty.ToString());
        Assert.Equal(string.Empty, empty.Stdout);
        Assert.Contains("no finished jobs submitted in the last 1h", empty.Stderr, StringComparison.Ordinal);

        var ran = new List<double>();
        foreach (var seconds in new[] { "1", "2" })
        {
            var job = await fixture.RunJsonAsync<JobDto>("jobs", "submit", "--cpus", "100m", "--memory", "64Mi", "--", "sleep", seconds);
            var id = job.Id.ToString(CultureInfo.InvariantCulture);
            var waited = await fixture.RunAsync("jobs", "wait", id, "--timeout", "60s");
            Assert.True(waited.ExitCode == 0, waited.ToString());
            var done = await fixture.RunJsonAsync<JobDto>("jobs", "show", id);
            ran.Add((done.EndedAt!.Value - done.StartedAt!.Value).TotalSeconds);
        }

        var simulated = await fixture.RunAsync("simulate", "--from-history", "--since", "1h", "--cluster", cluster, "--policy", "fifo,default", "--output", "json");

        Assert.True(simulated.ExitCode == 0, simulated.ToString());
        using var json = JsonDocument.Parse(simulated.Stdout);
        Assert.Equal(["fifo", "default"], json.RootElement.EnumerateArray().Select(r => r.GetProperty("policy").GetString()));
        foreach (var result in json.RootElement.EnumerateArray())
        {
            Assert.Equal(2, result.GetProperty("jobs").GetInt32());
            Assert.Equal(2, result.GetProperty("finished").GetInt32());
            Assert.InRange(result.GetProperty("avgJctSeconds").GetDouble(), ran.Average() * 0.9, ran.Average() * 1.1);
        }

        var text = await fixture.RunAsync("simulate", "--from-history", "--since", "1h", "--cluster", cluster, "--policy", "fifo");
        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.Contains("history (since 1h): 2 jobs on 4 nodes, 32 GPUs", text.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FromHistory_BadSince_NamesIt()
    {
        var result = await fixture.RunAsync("simulate", "--from-history", "--since", "forever", "--nodes", "2", "--policy", "fifo");

        // The server's 400, naming the value: not a usage error about an option the command lacks.
        Assert.True(result.ExitCode == 6, result.ToString());
        Assert.Contains("since", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Unrecognized", result.Stderr, StringComparison.Ordinal);
    }
}
